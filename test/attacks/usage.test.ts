/**
 * POST /usage from the attacker's side. A usage report rewrites what a token cost against the agent's daily caps
 * and can trip its kill switch, so only the service the token was issued for may send it (the contract: its
 * service credential, and the token's `aud` must be that service). Before this was closed, the agent (or anyone
 * holding a leaked token) authenticated with the token itself: `0` units after every call lifted its daily cap
 * without limit, a huge figure switched the agent off, and the service's genuine report then got `already_reported`.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import worker from "../../worker/index.ts";
import { ISSUER } from "../support/assertions.ts";
import { CRM_API } from "../support/demo-policy.ts";
import { jsonPost } from "../support/http.ts";
import { type RequestLogLine, withRequestLog } from "../support/logs.ts";
import { ADMIN_BEARER, accessTokenFor, CRM_SECRET, SERVICE_BEARER } from "../support/requests.ts";

const USAGE = `${ISSUER}/usage`;
const BILLING_API = "https://billing.example.com";
/** A second service known to the broker, so that one service can try to report on another's token. */
const BILLING_SECRET = "billing-service-secret-for-tests";
const withBillingService = {
  ...env,
  SERVICE_CREDENTIALS: JSON.stringify({ [CRM_API]: CRM_SECRET, [BILLING_API]: BILLING_SECRET }),
};

type UsageAnswer = { status: number; headers: Headers; body: Record<string, unknown>; log: RequestLogLine };

/** POST /usage as any HTTP client sends it, with the request's one log line (the internal reason). */
async function postUsage(body: unknown, headers: Record<string, string>, brokerEnv?: typeof withBillingService): Promise<UsageAnswer> {
  const send = () =>
    brokerEnv === undefined
      ? exports.default.fetch(USAGE, jsonPost(body, headers))
      : worker.fetch(new Request(USAGE, jsonPost(body, headers)), brokerEnv);
  const { result, lines } = await withRequestLog(async () => {
    const response = await send();
    return { response, body: await response.json<Record<string, unknown>>() };
  });
  expect(lines).toHaveLength(1);
  return { status: result.response.status, headers: result.response.headers, body: result.body, log: lines[0] as RequestLogLine };
}

/** What a report can change in the agent's ledger: the token's usage row, the daily totals, the kill switch. */
function ledgerState(agentId: string, token: string) {
  const { jti } = decodeJwt(token);
  return runInDurableObject(env.AGENT_LEDGER.getByName(agentId), (_ledger, state) => ({
    token: state.storage.sql.exec("SELECT units, used_units, reported_at FROM issued_tokens WHERE jti = ?", jti ?? "").toArray(),
    dailyTotals: state.storage.sql.exec("SELECT rule, hour, used FROM usage ORDER BY rule, hour").toArray(),
    killSwitch: state.storage.sql.exec("SELECT disabled, not_before FROM agent_state").toArray(),
  }));
}

/** RFC 6749 §5.2 / RFC 6750 §3: the exact answer to a caller that is not a service, whatever it presented. */
function expectServiceRequired(answer: UsageAnswer, detail?: string): void {
  expect({ status: answer.status, body: answer.body }).toEqual({
    status: 401,
    body: { error: "invalid_client", error_description: "usage is reported by the service the token was issued for, with its credential" },
  });
  expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="writ"');
  expect(answer.headers.get("cache-control")).toBe("no-store");
  expect(answer.headers.get("x-request-id")).toEqual(expect.any(String));
  expect(answer.log).toMatchObject({ status: 401, decision: "denied", reason: "usage_service_required" });
  expect(answer.log.detail).toBe(detail);
}

const recorded = { status: "recorded", over_limit: [], agent_disabled: false };

describe("POST /usage: only the token's own service reports", () => {
  it("refuses an agent that reports 0 units on its own token to lift its daily cap, and records nothing", async () => {
    const token = await accessTokenFor("support-bot");
    const before = await ledgerState("support-bot", token);
    expectServiceRequired(await postUsage({ units: { max_rows: 0 } }, { authorization: `Bearer ${token}` }));
    // The token in the body as well changes nothing: the bearer credential is still not a service's.
    expectServiceRequired(await postUsage({ token, units: { max_rows: 0 } }, { authorization: `Bearer ${token}` }));
    expect(await ledgerState("support-bot", token)).toEqual(before);
    // The one report the token has left is still the service's.
    expect((await postUsage({ token, units: { max_rows: 37 } }, SERVICE_BEARER)).body).toEqual(recorded);
  });

  it("refuses a leaked token's holder who reports a huge figure to trip the agent's kill switch", async () => {
    // support-bot has disable_on_overuse: a report over its limits would switch it off.
    const token = await accessTokenFor("support-bot");
    const before = await ledgerState("support-bot", token);
    expectServiceRequired(await postUsage({ units: { max_rows: 1e12 } }, { authorization: `Bearer ${token}` }));
    expect(await ledgerState("support-bot", token)).toEqual(before);
    expect(before.killSwitch).not.toContainEqual(expect.objectContaining({ disabled: 1 }));
    await expect(accessTokenFor("support-bot")).resolves.toEqual(expect.any(String));
  });

  it("refuses the admin token: usage is the service's testimony, not an admin action", async () => {
    const token = await accessTokenFor("billing-agent");
    const before = await ledgerState("billing-agent", token);
    expectServiceRequired(await postUsage({ token, units: { max_rows: 0 } }, ADMIN_BEARER), "admin_token");
    expect(await ledgerState("billing-agent", token)).toEqual(before);
    expect((await postUsage({ token, units: { max_rows: 5 } }, SERVICE_BEARER)).body).toEqual(recorded);
  });

  it("refuses a request without any credential, or with an unknown one", async () => {
    const token = await accessTokenFor("billing-agent");
    const before = await ledgerState("billing-agent", token);
    expectServiceRequired(await postUsage({ token, units: { max_rows: 0 } }, {}));
    expectServiceRequired(await postUsage({ token, units: { max_rows: 0 } }, { authorization: "Bearer not-a-service-secret-000" }));
    expect(await ledgerState("billing-agent", token)).toEqual(before);
  });

  it("refuses a service that reports on a token issued for another service, and records nothing", async () => {
    // Regression guard: this was already refused before the fix, and must stay so with the agent's way closed.
    const token = await accessTokenFor("billing-agent");
    const before = await ledgerState("billing-agent", token);
    const answer = await postUsage({ token, units: { max_rows: 0 } }, { authorization: `Bearer ${BILLING_SECRET}` }, withBillingService);
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 401,
      body: { error: "invalid_token", error_description: "the token is not a valid token of this broker for this service" },
    });
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.log).toMatchObject({ status: 401, decision: "denied", reason: "usage_token_invalid" });
    expect(await ledgerState("billing-agent", token)).toEqual(before);
    // The token's own service still reports, through the same broker configuration.
    expect((await postUsage({ token, units: { max_rows: 3 } }, SERVICE_BEARER, withBillingService)).body).toEqual(recorded);
  });

  it("keeps a repeated genuine report already_reported, changing nothing", async () => {
    const token = await accessTokenFor("billing-agent");
    expect((await postUsage({ token, units: { max_rows: 12 } }, SERVICE_BEARER)).body).toEqual(recorded);
    const after = await ledgerState("billing-agent", token);
    const again = await postUsage({ token, units: { max_rows: 0 } }, SERVICE_BEARER);
    expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: { status: "already_reported" } });
    expect(await ledgerState("billing-agent", token)).toEqual(after);
  });
});
