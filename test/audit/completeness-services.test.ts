import { describe, expect, it } from "vitest";
import type { AuditRecord } from "../../schemas/audit.ts";
import { auditAll, auditPage, expectNoSecrets, expectWellFormed, probe } from "../support/audit.ts";
import { countBy, itHoldsNoSecrets, recordOf, Secrets, today } from "../support/audit-completeness.ts";
import { ADMIN_BEARER, SERVICE_BEARER } from "../support/requests.ts";

/**
 * Issue #5: N requests of every kind produce exactly N matching audit records, nothing lost and nothing extra,
 * with the fields an auditor needs and never a secret. Each test sends its requests through its own probe
 * (own user agent, IP and Ray IDs), so its records can be counted exactly although Durable Objects persist
 * across the tests of this file.
 */

const secrets = new Secrets();

describe("audit completeness: usage, introspection, revocation", () => {
  it("records each usage report, introspection and revocation once, with the token's jti", async () => {
    const first = await secrets.accessToken(
      await probe("setup").post("/token", await secrets.exchangeForm("billing-agent", { scope: "crm.customers.read" })),
    );
    const second = await secrets.accessToken(
      await probe("setup").post("/token", await secrets.exchangeForm("billing-agent", { scope: "crm.customers.read" })),
    );
    const p = probe("services");
    const sent: { status: number; expected: Partial<AuditRecord> }[] = [];
    const expectSent = async (res: Promise<Response>, status: number, expected: Partial<AuditRecord>) => {
      expect((await res).status).toBe(status);
      sent.push({ status, expected });
    };
    const token = { agent: "billing-agent", use_case: "crm.customers.read" };

    await expectSent(p.postJson("/usage", { units: { max_rows: 12 } }, { authorization: `Bearer ${first.token}` }), 200, {
      type: "usage_report",
      ...token,
      jti: first.jti,
      decision: "usage_recorded",
    });
    await expectSent(p.postJson("/usage", { token: second.token, units: { max_rows: 3 } }, SERVICE_BEARER), 200, {
      type: "usage_report",
      ...token,
      jti: second.jti,
      decision: "usage_recorded",
    });
    await expectSent(p.postJson("/usage", { units: { max_rows: 99 } }, { authorization: `Bearer ${first.token}` }), 200, {
      type: "usage_report",
      ...token,
      jti: first.jti,
    });
    await expectSent(p.post("/introspect", { token: first.token }, SERVICE_BEARER), 200, {
      type: "introspection",
      agent: "billing-agent",
      jti: first.jti,
    });
    await expectSent(p.post("/introspect", { token: first.token }, ADMIN_BEARER), 200, {
      type: "introspection",
      agent: "billing-agent",
      jti: first.jti,
    });
    await expectSent(p.post("/revoke", { token: first.token }, SERVICE_BEARER), 200, {
      type: "revocation",
      agent: "billing-agent",
      jti: first.jti,
      decision: "revoked",
    });
    await expectSent(p.post("/introspect", { token: first.token }, SERVICE_BEARER), 200, {
      type: "introspection",
      agent: "billing-agent",
      jti: first.jti,
      reason: "revoked",
    });
    await expectSent(p.post("/introspect", { token: "not-a-token" }, SERVICE_BEARER), 200, {
      type: "introspection",
      shard: `_broker/${today()}`,
    });
    await expectSent(p.post("/revoke", { token: "not-a-token" }, SERVICE_BEARER), 200, { type: "revocation", shard: `_broker/${today()}` });
    await expectSent(p.post("/introspect", { token: second.token }), 401, {
      type: "introspection",
      decision: "denied",
      reason: "invalid_client",
    });

    const records = await p.records(sent.length);
    expect(records).toHaveLength(sent.length);
    for (const [i, { status, expected }] of sent.entries())
      expect(recordOf(records, p, i)).toMatchObject({ status, ip: p.ip, user_agent: p.userAgent, ...expected });
    // The repeated report changed nothing and is not recorded as a second recording.
    expect(recordOf(records, p, 2).decision).not.toBe("usage_recorded");
    expect(countBy(records, (r) => r.type)).toEqual({ usage_report: 3, introspection: 5, revocation: 2 });
    expectWellFormed(records);
    expectNoSecrets(records, secrets.all);
  });
});

describe("audit completeness: admin", () => {
  it("records each admin action once, naming the agent it acted on", async () => {
    const p = probe("admin");
    expect((await p.post("/admin/agents/report-bot/disable", null, ADMIN_BEARER)).status).toBe(200);
    expect((await p.post("/admin/agents/report-bot/enable", null, ADMIN_BEARER)).status).toBe(200);
    expect((await p.get("/admin/agents/report-bot", ADMIN_BEARER)).status).toBe(200);
    expect((await p.post("/admin/agents/ghost/disable", null, ADMIN_BEARER)).status).toBe(404);

    const records = await p.records(4);
    expect(records).toHaveLength(4);
    expect(recordOf(records, p, 0)).toMatchObject({
      type: "admin_action",
      agent: "report-bot",
      decision: "agent_disabled",
      status: 200,
      shard: `report-bot/${today()}`,
    });
    expect(recordOf(records, p, 1)).toMatchObject({ type: "admin_action", agent: "report-bot", decision: "agent_enabled", status: 200 });
    expect(recordOf(records, p, 2)).toMatchObject({ type: "admin_action", status: 200 });
    expect(recordOf(records, p, 3)).toMatchObject({ type: "admin_action", decision: "error", status: 404 });
    expectNoSecrets(records, secrets.all);
  });

  it("records each admin authentication failure once in the broker's shard, without the presented secret", async () => {
    const p = probe("admin-auth");
    const wrong = secrets.keep("Bearer not-the-admin-token-0123456789");
    expect((await p.get("/admin/audit", { authorization: wrong })).status).toBe(401);
    expect((await p.post("/admin/agents/billing-agent/disable", null, { authorization: wrong })).status).toBe(401);
    expect((await p.get("/admin/audit/export")).status).toBe(401);
    secrets.keep("not-the-admin-token-0123456789");

    const records = await p.records(3);
    expect(records).toHaveLength(3);
    const failure = { type: "admin_auth_failure", decision: "denied", status: 401, shard: `_broker/${today()}`, ip: p.ip };
    expect(recordOf(records, p, 0)).toMatchObject({ ...failure, reason: "admin_auth:bad_token" });
    expect(recordOf(records, p, 1)).toMatchObject({ ...failure, reason: "admin_auth:bad_token" });
    expect(recordOf(records, p, 2)).toMatchObject({ ...failure, reason: "admin_auth:no_credential" });
    for (const record of records) expect(record).not.toHaveProperty("agent");
    // The refused disable did nothing.
    expect((await auditAll({ agent: "billing-agent", type: "admin_action" })).filter((r) => r.user_agent === p.userAgent)).toEqual([]);
    expectNoSecrets(records, secrets.all);
  });

  // BUG: events without an agent are stored in `_broker/<day>` with a NULL agent column, and the query filters on
  // that column, so `?agent=_broker` (the documented way to read admin auth failures) always returns nothing.
  it("finds broker-level events with agent=_broker", async () => {
    const p = probe("broker-filter");
    expect((await p.get("/admin/audit", { authorization: "Bearer wrong-admin-token-000000" })).status).toBe(401);
    await p.records(1);
    const found = (await auditPage({ agent: "_broker", type: "admin_auth_failure", limit: "1000" })).records;
    expect(found.filter((r) => r.user_agent === p.userAgent)).toHaveLength(1);
  });
});

describe("audit completeness: secrets", () => {
  itHoldsNoSecrets(secrets, { records: 20, secrets: 5 });
});
