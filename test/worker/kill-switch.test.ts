import { evictDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { exchange, ISSUER, type OAuthError } from "../support/broker.ts";
import { pollApproval, startApproval } from "../support/ciba.ts";

const ADMIN = { authorization: "Bearer dev-admin-token" };
const SERVICE = { authorization: "Bearer dev-crm-service-secret" };

function post(path: string, headers: Record<string, string>, form?: Record<string, string>): Promise<Response> {
  return exports.default.fetch(`${ISSUER}${path}`, {
    method: "POST",
    headers: form ? { ...headers, "content-type": "application/x-www-form-urlencoded" } : headers,
    body: form ? new URLSearchParams(form) : null,
  });
}

async function tokenFor(agent: "support-bot" | "billing-agent"): Promise<string> {
  const res = await exchange(agent, { scope: "crm.customers.read" });
  expect(res.status).toBe(200);
  return (await res.json<{ access_token: string }>()).access_token;
}

async function introspect(token: string, headers = SERVICE): Promise<Record<string, unknown>> {
  const res = await post("/introspect", headers, { token });
  expect(res.status).toBe(200);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return res.json();
}

describe("introspection and revocation (RFC 7662, RFC 7009)", () => {
  it("reports a live token active, with its claims, to the service it was issued for", async () => {
    const token = await tokenFor("support-bot");
    expect(await introspect(token)).toMatchObject({
      active: true,
      sub: "support-bot",
      scope: "crm.customers.read",
      aud: "https://crm.example.com",
    });
  });

  it("answers inactive for garbage, for a forged token and to another service", async () => {
    expect(await introspect("not-a-token")).toEqual({ active: false });
    const token = await tokenFor("support-bot");
    expect(await introspect(`${token.slice(0, -4)}AAAA`)).toEqual({ active: false });
    // The admin may see every token; a service only its own (here: the CRM's token, seen by the admin).
    expect(await introspect(token, ADMIN)).toMatchObject({ active: true });
  });

  it("refuses callers without a credential", async () => {
    const res = await post("/introspect", {}, { token: "x" });
    expect(res.status).toBe(401);
    expect(await res.json<OAuthError>()).toMatchObject({ error: "invalid_client" });
    expect((await post("/introspect", { authorization: "Bearer wrong-secret-wrong-secret" }, { token: "x" })).status).toBe(401);
  });

  it("revokes one token until it expires, leaving the agent's other tokens alone", async () => {
    const [revoked, kept] = [await tokenFor("support-bot"), await tokenFor("support-bot")];
    expect((await post("/revoke", SERVICE, { token: revoked })).status).toBe(200);
    expect(await introspect(revoked)).toEqual({ active: false });
    expect(await introspect(kept)).toMatchObject({ active: true });
    // RFC 7009 §2.2: an invalid token is not an error.
    expect((await post("/revoke", SERVICE, { token: "garbage" })).status).toBe(200);
  });
});

describe("kill switch", () => {
  it("requires the admin token", async () => {
    expect((await post("/admin/agents/billing-agent/disable", {})).status).toBe(401);
    expect((await post("/admin/agents/billing-agent/disable", { authorization: "Bearer nope" })).status).toBe(401);
    expect((await post("/admin/agents/ghost/disable", ADMIN)).status).toBe(404);
  });

  it("stops new tokens, deactivates live ones, cancels pending approvals; enabling restores only new tokens", async () => {
    const live = await tokenFor("billing-agent");
    const started = await startApproval("billing-agent", { scope: "billing.invoices.refund", intent: "kill switch test" });
    const { auth_req_id } = await started.json<{ auth_req_id: string }>();

    const disabled = await post("/admin/agents/billing-agent/disable", ADMIN);
    expect(await disabled.json()).toMatchObject({ disabled: true, cancelled_approvals: 1 });

    const refused = await exchange("billing-agent", { scope: "crm.customers.read" });
    expect(refused.status).toBe(403);
    expect(await refused.json<OAuthError>()).toMatchObject({ error: "access_denied", error_description: "agent is disabled" });
    expect(await introspect(live)).toEqual({ active: false });
    const poll = await pollApproval("billing-agent", auth_req_id);
    expect(await poll.json<OAuthError>()).toMatchObject({ error: "access_denied", error_description: "the request was cancelled" });

    expect((await post("/admin/agents/billing-agent/enable", ADMIN)).status).toBe(200);
    const fresh = await tokenFor("billing-agent");
    expect(await introspect(fresh)).toMatchObject({ active: true });
    // Tokens from before the switch stay dead: the watermark outlives re-enabling.
    expect(await introspect(live)).toEqual({ active: false });
  });

  it("keeps an agent switched off across eviction of its ledger", async () => {
    const live = await tokenFor("billing-agent");
    expect((await post("/admin/agents/billing-agent/disable", ADMIN)).status).toBe(200);
    await evictDurableObject(env.AGENT_LEDGER.getByName("billing-agent"));
    expect((await exchange("billing-agent", { scope: "crm.customers.read" })).status).toBe(403);
    expect(await introspect(live)).toEqual({ active: false });
    expect((await post("/admin/agents/billing-agent/enable", ADMIN)).status).toBe(200);
  });

  it("shows an agent's state, budgets and latest tokens to the admin", async () => {
    await tokenFor("support-bot");
    const res = await exports.default.fetch(`${ISSUER}/admin/agents/support-bot`, { headers: ADMIN });
    const body = await res.json<{ disabled: boolean; budgets: { budget: string; remaining: number }[]; recent_tokens: unknown[] }>();
    expect(body.disabled).toBe(false);
    expect(body.budgets).toContainEqual({ budget: "agent support-bot: 5000 tokens per day", remaining: expect.any(Number) });
    expect(body.recent_tokens.length).toBeGreaterThan(0);
  });
});
