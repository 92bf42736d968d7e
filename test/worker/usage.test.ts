import { describe, expect, it } from "vitest";
import { ISSUER } from "../support/assertions.ts";
import type { OAuthError } from "../support/oauth.ts";
import { ADMIN_BEARER, accessTokenFor, brokerFetch, brokerPostForm, exchange } from "../support/requests.ts";

/** A usage report; a string body is sent as it is, so that a test can send what is not JSON. */
function report(body: unknown, authorization?: string, contentType = "application/json"): Promise<Response> {
  const headers: Record<string, string> = { "content-type": contentType, ...(authorization ? { authorization } : {}) };
  return brokerFetch(`${ISSUER}/usage`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
}

describe("POST /usage", () => {
  it("records what a token consumed, authenticated by that token, once", async () => {
    const token = await accessTokenFor("billing-agent");
    const first = await report({ units: { max_rows: 37 } }, `Bearer ${token}`);
    expect(await first.json()).toEqual({ status: "recorded", over_limit: [], agent_disabled: false });
    const again = await report({ units: { max_rows: 99 } }, `Bearer ${token}`);
    expect(await again.json()).toEqual({ status: "already_reported" });
  });

  it("accepts a service credential with the token in the body, for that service's tokens only", async () => {
    const token = await accessTokenFor("billing-agent");
    expect((await report({ token, units: { max_rows: 1 } }, "Bearer dev-crm-service-secret")).status).toBe(200);
  });

  it("flags a report beyond the token's limits, and disables an agent whose policy says so", async () => {
    const billing = await accessTokenFor("billing-agent");
    expect(await (await report({ units: { max_rows: 101 } }, `Bearer ${billing}`)).json()).toEqual({
      status: "recorded",
      over_limit: ["max_rows"],
      agent_disabled: false,
    });
    // support-bot has disable_on_overuse: the report trips its kill switch.
    const support = await accessTokenFor("support-bot");
    expect(await (await report({ units: { max_rows: 500 } }, `Bearer ${support}`)).json()).toMatchObject({ agent_disabled: true });
    const refused = await exchange("support-bot", { scope: "crm.customers.read" });
    expect(await refused.json<OAuthError>()).toMatchObject({ error: "access_denied" });
    await brokerPostForm("/admin/agents/support-bot/enable", null, ADMIN_BEARER);
  });

  it("refuses malformed reports and foreign tokens without recording anything", async () => {
    const token = await accessTokenFor("billing-agent");
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
