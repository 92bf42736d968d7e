import { describe, expect, it } from "vitest";
import { ISSUER } from "../support/assertions.ts";
import type { OAuthError } from "../support/oauth.ts";
import { ADMIN_BEARER, accessTokenFor, brokerFetch, brokerPostForm, exchange, SERVICE_BEARER } from "../support/requests.ts";

/**
 * A usage report by the CRM, the service the demo tokens are issued for (test/attacks/usage.test.ts holds what
 * others may not do). A string body is sent as it is, so that a test can send what is not JSON.
 */
function report(body: unknown, contentType = "application/json"): Promise<Response> {
  const headers = { "content-type": contentType, ...SERVICE_BEARER };
  return brokerFetch(`${ISSUER}/usage`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
}

describe("POST /usage", () => {
  it("records what a token consumed, reported by the token's service with its credential, once", async () => {
    const token = await accessTokenFor("billing-agent");
    const first = await report({ token, units: { max_rows: 37 } });
    expect(first.headers.get("cache-control")).toBe("no-store");
    expect(await first.json()).toEqual({ status: "recorded", over_limit: [], agent_disabled: false });
    const again = await report({ token, units: { max_rows: 99 } });
    expect(await again.json()).toEqual({ status: "already_reported" });
  });

  it("flags a report beyond the token's limits, and disables an agent whose policy says so", async () => {
    const billing = await accessTokenFor("billing-agent");
    expect(await (await report({ token: billing, units: { max_rows: 101 } })).json()).toEqual({
      status: "recorded",
      over_limit: ["max_rows"],
      agent_disabled: false,
    });
    // support-bot has disable_on_overuse: the service's report trips its kill switch.
    const support = await accessTokenFor("support-bot");
    expect(await (await report({ token: support, units: { max_rows: 500 } })).json()).toMatchObject({ agent_disabled: true });
    const refused = await exchange("support-bot", { scope: "crm.customers.read" });
    expect(await refused.json<OAuthError>()).toMatchObject({ error: "access_denied" });
    await brokerPostForm("/admin/agents/support-bot/enable", null, ADMIN_BEARER);
  });

  it("refuses malformed reports and foreign tokens without recording anything", async () => {
    const token = await accessTokenFor("billing-agent");
    for (const [bad, description] of [
      ["{", "body is not JSON"],
      [JSON.stringify({ token, units: {} }), "invalid usage report: units"],
      [JSON.stringify({ token, units: { max_rows: -1 } }), "invalid usage report: units.max_rows"],
      [JSON.stringify({ token, units: { max_rows: 1 }, extra: 1 }), "invalid usage report: body"],
      [JSON.stringify({ units: { max_rows: 1 } }), 'parameter "token" is required'],
    ]) {
      const res = await report(bad);
      expect({ status: res.status, body: await res.json<OAuthError>() }, bad).toEqual({
        status: 400,
        body: { error: "invalid_request", error_description: description },
      });
    }
    expect((await report({ token, units: { max_rows: 1 } }, "text/plain")).status).toBe(400);
    const forged = await report({ token: "forged.token.value", units: { max_rows: 1 } });
    expect({ status: forged.status, body: await forged.json<OAuthError>() }).toEqual({
      status: 401,
      body: { error: "invalid_token", error_description: "the token is not a valid token of this broker for this service" },
    });
    // Nothing above was recorded: the first real report still counts.
    expect(await (await report({ token, units: { max_rows: 2 } })).json()).toMatchObject({ status: "recorded" });
  });
});
