import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { switchOff, switchOn } from "../../worker/agents/kill-switch.ts";
import { approvalIdOf, approvalState, decideByMail, pollApproval, startApproval } from "../support/ciba.ts";
import type { OAuthError } from "../support/oauth.ts";
import { ADMIN_BEARER, accessTokenFor, brokerGet, brokerPostForm, exchange, SERVICE_BEARER } from "../support/requests.ts";

async function introspect(token: string, headers: Record<string, string> = SERVICE_BEARER): Promise<Record<string, unknown>> {
  const res = await brokerPostForm("/introspect", { token }, headers);
  expect(res.status).toBe(200);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return res.json();
}

describe("introspection and revocation (RFC 7662, RFC 7009)", () => {
  it("reports a live token active, with its claims, to the service it was issued for", async () => {
    const token = await accessTokenFor("support-bot");
    expect(await introspect(token)).toMatchObject({
      active: true,
      sub: "support-bot",
      scope: "crm.customers.read",
      aud: "https://crm.example.com",
    });
  });

  it("answers inactive for garbage, for a forged token and to another service", async () => {
    expect(await introspect("not-a-token")).toEqual({ active: false });
    const token = await accessTokenFor("support-bot");
    expect(await introspect(`${token.slice(0, -4)}AAAA`)).toEqual({ active: false });
    // The admin may see every token; a service only its own (here: the CRM's token, seen by the admin).
    expect(await introspect(token, ADMIN_BEARER)).toMatchObject({ active: true });
  });

  it("refuses callers without a credential", async () => {
    const res = await brokerPostForm("/introspect", { token: "x" });
    expect(res.status).toBe(401);
    expect(await res.json<OAuthError>()).toMatchObject({ error: "invalid_client" });
    expect((await brokerPostForm("/introspect", { token: "x" }, { authorization: "Bearer wrong-secret-wrong-secret" })).status).toBe(401);
  });

  it("revokes one token until it expires, leaving the agent's other tokens alone", async () => {
    const [revoked, kept] = [await accessTokenFor("support-bot"), await accessTokenFor("support-bot")];
    expect((await brokerPostForm("/revoke", { token: revoked }, SERVICE_BEARER)).status).toBe(200);
    expect(await introspect(revoked)).toEqual({ active: false });
    expect(await introspect(kept)).toMatchObject({ active: true });
    // RFC 7009 §2.2: an invalid token is not an error.
    expect((await brokerPostForm("/revoke", { token: "garbage" }, SERVICE_BEARER)).status).toBe(200);
  });
});

describe("kill switch", () => {
  it("requires the admin token", async () => {
    expect((await brokerPostForm("/admin/agents/billing-agent/disable", null)).status).toBe(401);
    expect((await brokerPostForm("/admin/agents/billing-agent/disable", null, { authorization: "Bearer nope" })).status).toBe(401);
    expect((await brokerPostForm("/admin/agents/ghost/disable", null, ADMIN_BEARER)).status).toBe(404);
  });

  it("stops new tokens, deactivates live ones, cancels pending approvals; enabling restores only new tokens", async () => {
    const live = await accessTokenFor("billing-agent");
    const started = await startApproval("billing-agent", { scope: "billing.invoices.refund", intent: "kill switch test" });
    const { auth_req_id } = await started.json<{ auth_req_id: string }>();

    const disabled = await brokerPostForm("/admin/agents/billing-agent/disable", null, ADMIN_BEARER);
    expect(await disabled.json()).toMatchObject({ disabled: true, cancelled_approvals: 1 });

    const refused = await exchange("billing-agent", { scope: "crm.customers.read" });
    expect(refused.status).toBe(403);
    expect(await refused.json<OAuthError>()).toMatchObject({ error: "access_denied", error_description: "agent is disabled" });
    expect(await introspect(live)).toEqual({ active: false });
    const poll = await pollApproval("billing-agent", auth_req_id);
    expect(await poll.json<OAuthError>()).toMatchObject({ error: "access_denied", error_description: "the request was cancelled" });

    expect((await brokerPostForm("/admin/agents/billing-agent/enable", null, ADMIN_BEARER)).status).toBe(200);
    const fresh = await accessTokenFor("billing-agent");
    expect(await introspect(fresh)).toMatchObject({ active: true });
    // Tokens from before the switch stay dead: the watermark outlives re-enabling.
    expect(await introspect(live)).toEqual({ active: false });
  });

  it("switchOff cancels pending and approved requests alike and counts them; switchOn lets new tokens through", async () => {
    const opened = async (intent: string) => {
      const res = await startApproval("billing-agent", { scope: "billing.invoices.refund", intent });
      return approvalIdOf((await res.json<{ auth_req_id: string }>()).auth_req_id);
    };
    const pendingId = await opened("switchOff pending");
    const approvedId = await opened("switchOff approved");
    await decideByMail(approvedId, "dana@example.com");
    expect(await decideByMail(approvedId, "frank@example.com")).toMatchObject({ status: "approved" });

    expect(await switchOff(env, "billing-agent", Date.now(), "admin")).toEqual({ cancelled: 2 });
    expect(await approvalState(pendingId)).toMatchObject({ status: "cancelled" });
    expect(await approvalState(approvedId)).toMatchObject({ status: "cancelled" });
    expect((await exchange("billing-agent", { scope: "crm.customers.read" })).status).toBe(403);
    expect(await switchOn(env, "billing-agent", Date.now())).toEqual({ cancelled: 0 });
    expect((await exchange("billing-agent", { scope: "crm.customers.read" })).status).toBe(200);
  });

  it("keeps an agent switched off across eviction of its ledger", async () => {
    const live = await accessTokenFor("billing-agent");
    expect((await brokerPostForm("/admin/agents/billing-agent/disable", null, ADMIN_BEARER)).status).toBe(200);
    await evictDurableObject(env.AGENT_LEDGER.getByName("billing-agent"));
    expect((await exchange("billing-agent", { scope: "crm.customers.read" })).status).toBe(403);
    expect(await introspect(live)).toEqual({ active: false });
    expect((await brokerPostForm("/admin/agents/billing-agent/enable", null, ADMIN_BEARER)).status).toBe(200);
  });

  it("shows an agent's state, budgets and latest tokens to the admin", async () => {
    await accessTokenFor("support-bot");
    const res = await brokerGet("/admin/agents/support-bot", {}, ADMIN_BEARER);
    const body = await res.json<{ disabled: boolean; budgets: { budget: string; remaining: number }[]; recent_tokens: unknown[] }>();
    expect(body.disabled).toBe(false);
    expect(body.budgets).toContainEqual({ budget: "agent support-bot: 5000 tokens per day", remaining: expect.any(Number) });
    expect(body.recent_tokens.length).toBeGreaterThan(0);
  });
});
