import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { exchange, ISSUER, type OAuthError } from "../support/broker.ts";

function report(body: unknown, authorization?: string, contentType = "application/json"): Promise<Response> {
  const headers: Record<string, string> = { "content-type": contentType };
  if (authorization) headers.authorization = authorization;
  return exports.default.fetch(`${ISSUER}/usage`, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function tokenFor(agent: "support-bot" | "billing-agent"): Promise<string> {
  const res = await exchange(agent, { scope: "crm.customers.read" });
  expect(res.status).toBe(200);
  return (await res.json<{ access_token: string }>()).access_token;
}

describe("POST /usage", () => {
  it("records what a token consumed, authenticated by that token, once", async () => {
    const token = await tokenFor("billing-agent");
    const first = await report({ units: { max_rows: 37 } }, `Bearer ${token}`);
    expect(await first.json()).toEqual({ status: "recorded", over_limit: [], agent_disabled: false });
    const again = await report({ units: { max_rows: 99 } }, `Bearer ${token}`);
    expect(await again.json()).toEqual({ status: "already_reported" });
  });

  it("accepts a service credential with the token in the body, for that service's tokens only", async () => {
    const token = await tokenFor("billing-agent");
    expect((await report({ token, units: { max_rows: 1 } }, "Bearer dev-crm-service-secret")).status).toBe(200);
  });

  it("flags a report beyond the token's limits, and disables an agent whose policy says so", async () => {
    const billing = await tokenFor("billing-agent");
    expect(await (await report({ units: { max_rows: 101 } }, `Bearer ${billing}`)).json()).toEqual({
      status: "recorded",
      over_limit: ["max_rows"],
      agent_disabled: false,
    });
    // support-bot has disable_on_overuse: the report trips its kill switch.
    const support = await tokenFor("support-bot");
    expect(await (await report({ units: { max_rows: 500 } }, `Bearer ${support}`)).json()).toMatchObject({ agent_disabled: true });
    const refused = await exchange("support-bot", { scope: "crm.customers.read" });
    expect(await refused.json<OAuthError>()).toMatchObject({ error: "access_denied" });
    await exports.default.fetch(`${ISSUER}/admin/agents/support-bot/enable`, {
      method: "POST",
      headers: { authorization: "Bearer dev-admin-token" },
    });
  });

  it("refuses malformed reports and foreign tokens without recording anything", async () => {
    const token = await tokenFor("billing-agent");
    for (const bad of [
      "{",
      JSON.stringify({ units: {} }),
      JSON.stringify({ units: { max_rows: -1 } }),
      JSON.stringify({ units: { max_rows: 1 }, extra: 1 }),
    ]) {
      const res = await report(bad, `Bearer ${token}`);
      expect(res.status, bad).toBe(400);
      expect(await res.json<OAuthError>()).toMatchObject({ error: "invalid_request" });
    }
    expect((await report({ units: { max_rows: 1 } }, `Bearer ${token}`, "text/plain")).status).toBe(400);
    expect((await report({ units: { max_rows: 1 } }, "Bearer forged.token.value")).status).toBe(401);
    expect((await report({ units: { max_rows: 1 } })).status).toBe(401);
    // Nothing above was recorded: the first real report still counts.
    expect(await (await report({ units: { max_rows: 2 } }, `Bearer ${token}`)).json()).toMatchObject({ status: "recorded" });
  });
});
