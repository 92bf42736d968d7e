import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AuditRecord } from "../../schemas/audit.ts";
import { assertionFor, ISSUER } from "../support/assertions.ts";
import { auditAll, expectNoSecrets, expectWellFormed, probe, waitForRecords } from "../support/audit.ts";
import { itHoldsNoSecrets, recordOf, Secrets, today } from "../support/audit-completeness.ts";
import { networkOf, waitForNoise } from "../support/noise.ts";
import { tokenExchangeParams } from "../support/oauth.ts";

/**
 * Issue #5: N requests of every kind produce exactly N matching audit records, nothing lost and nothing extra,
 * with the fields an auditor needs and never a secret. Each test sends its requests through its own probe
 * (own user agent, IP and Ray IDs), so its records can be counted exactly although Durable Objects persist
 * across the tests of this file.
 */

const secrets = new Secrets();

describe("audit completeness: token requests", () => {
  it("records each issued token once, with the jti of the token the agent received and the request's client", async () => {
    const p = probe("issued");
    const issued: { jti: string; intent: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const intent = `reconcile invoices batch ${i}`;
      const res = await p.post("/token", await secrets.exchangeForm("billing-agent", { scope: "crm.customers.read", intent }));
      issued.push({ jti: (await secrets.accessToken(res)).jti, intent });
    }

    const records = await p.records(3);
    expect(records).toHaveLength(3);
    for (const [i, { jti, intent }] of issued.entries())
      expect(recordOf(records, p, i)).toMatchObject({
        type: "token_request",
        request_id: p.requestIds[i],
        agent: "billing-agent",
        use_case: "crm.customers.read",
        audience: "https://crm.example.com",
        decision: "issued",
        status: 200,
        jti,
        intent,
        ip: p.ip,
        user_agent: p.userAgent,
        shard: `billing-agent/${today()}`,
      });
    expect(new Set(records.map((r) => r.jti)).size).toBe(3);
    expectWellFormed(records);
    expectNoSecrets(records, secrets.all);
  });

  it("records no client IP or user agent that the request did not send", async () => {
    const requestId = `${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}-BARE`;
    const res = await exports.default.fetch(`${ISSUER}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-ray": requestId },
      body: new URLSearchParams(await secrets.exchangeForm("billing-agent", { scope: "crm.customers.read" })),
    });
    const { jti } = await secrets.accessToken(res);
    const [record] = await waitForRecords(1, (r) => r.request_id === requestId, { agent: "billing-agent" });
    expect(record).toMatchObject({ type: "token_request", jti });
    expect(record).not.toHaveProperty("ip");
    expect(record).not.toHaveProperty("user_agent");
  });

  it("records each refused request of a known agent once with the rule that failed, in the agent's shard", async () => {
    const p = probe("refused");
    const forged = await assertionFor("billing-agent");
    // One signature character changed: a forgery, refused before the broker knows which agent is asking.
    const tampered = `${forged.slice(0, -2)}${forged.at(-2) === "A" ? "B" : "A"}${forged.at(-1)}`;
    secrets.keep(tampered);
    const cases: { form: Record<string, string>; status: number; error: string; expected: Partial<AuditRecord> }[] = [
      {
        form: await secrets.exchangeForm("billing-agent", { scope: "crm.customers.search" }),
        status: 400,
        error: "invalid_scope",
        expected: { agent: "billing-agent", reason: "use_case_not_allowed", shard: `billing-agent/${today()}` },
      },
      {
        form: await secrets.exchangeForm("billing-agent", { scope: "crm.everything" }),
        status: 400,
        error: "invalid_scope",
        expected: { agent: "billing-agent", reason: "unknown_use_case" },
      },
      {
        form: await secrets.exchangeForm("retired-bot", { scope: "crm.customers.read" }),
        status: 403,
        error: "access_denied",
        expected: { agent: "retired-bot", reason: "agent_disabled", shard: `retired-bot/${today()}` },
      },
      {
        form: await secrets.exchangeForm("support-bot", { scope: "crm.customers.export", intent: "export for a ticket" }),
        status: 403,
        error: "access_denied",
        expected: { agent: "support-bot", reason: "context_missing" },
      },
    ];
    for (const { form, status, error } of cases) {
      const res = await p.post("/token", form);
      expect(res.status).toBe(status);
      expect((await res.json<{ error: string }>()).error).toBe(error);
    }

    const records = await p.records(cases.length);
    expect(records).toHaveLength(cases.length);
    for (const [i, { status, expected }] of cases.entries()) {
      const record = recordOf(records, p, i);
      expect(record).toMatchObject({ type: "token_request", decision: "denied", status, ip: p.ip, user_agent: p.userAgent, ...expected });
      expect(record).not.toHaveProperty("jti");
    }
    // Refused before authentication: anyone can send that, so it is counted (by the check that failed), never
    // recorded, and certainly not under the agent it claims to be (an attacker's claim is not evidence).
    const forgery = await p.post("/token", tokenExchangeParams(tampered, { scope: "crm.customers.read" }));
    expect(forgery.status).toBe(400);
    expect((await forgery.json<{ error: string }>()).error).toBe("invalid_grant");
    await waitForNoise(1, (row) => row.reason === "subject_token_invalid:bad_signature" && row.network === networkOf(p.ip));
    expect((await auditAll()).filter((r) => r.request_id === p.requestIds.at(-1))).toEqual([]);
    expectWellFormed(records);
    expectNoSecrets(records, secrets.all);
  });

  // BUG (issue #5 "who tried to get access to what"): a request refused by the policy records the agent and the
  // rule, but not the use case (or audience) it asked for: `use_case` is only set once `decide` has passed.
  it("names the use case a refused request asked for", async () => {
    const p = probe("refused-use-case");
    expect((await p.post("/token", await secrets.exchangeForm("billing-agent", { scope: "crm.customers.search" }))).status).toBe(400);
    const [record] = await p.records(1);
    expect(record).toMatchObject({ reason: "use_case_not_allowed", use_case: "crm.customers.search" });
  });

  it("records rate-limited requests once each, as refusals of the exhausted budget", async () => {
    const p = probe("rate");
    const statuses: number[] = [];
    // crm.customers.search allows a burst of 3; the refill (one per 10 s) is irrelevant: we stop after two refusals.
    for (let i = 0; i < 15 && statuses.filter((s) => s === 429).length < 2; i++) {
      const res = await p.post(
        "/token",
        await secrets.exchangeForm("support-bot", { scope: "crm.customers.search", intent: `search ${i}` }),
      );
      statuses.push(res.status);
      if (res.status === 200) await secrets.accessToken(res);
      else expect(await res.json<{ error: string }>()).toMatchObject({ error: "rate_limited" });
    }
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);

    const records = await p.records(statuses.length);
    expect(records).toHaveLength(statuses.length);
    for (const [i, status] of statuses.entries())
      expect(recordOf(records, p, i)).toMatchObject({
        type: "token_request",
        agent: "support-bot",
        use_case: "crm.customers.search",
        intent: `search ${i}`,
        status,
        ...(status === 200 ? { decision: "issued", jti: expect.any(String) } : { decision: "denied", reason: "budget_exhausted" }),
      });
    expectNoSecrets(records, secrets.all);
  });
});

describe("audit completeness: secrets", () => {
  itHoldsNoSecrets(secrets, { records: 15, secrets: 15 });
});
