import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { BudgetRule } from "../../core/budgets/budget-rules.ts";
import type { AgentLedger, Charge } from "../../durable-objects/agent-ledger.ts";
import { HOUR_MS, MINUTE_MS, SECOND_MS } from "../../lib/time.ts";

/** Half past an hour: daily caps count whole hours, so the charge's hour began 30 minutes earlier. */
const T0 = 1_800_000_000_000 + 30 * MINUTE_MS;
const DAILY: BudgetRule = { name: "agent a: 2 tokens per day", kind: "daily", unit: "tokens", cap: 2 };
const RATE: BudgetRule = { name: "agent a: 60 tokens per minute", kind: "rate", perMinute: 60, burst: 3 };
const charge = (now: number): Charge => ({ jti: crypto.randomUUID(), useCaseId: "u", units: {}, expiresAt: now + 5 * MINUTE_MS });
const ledger = () => env.AGENT_LEDGER.getByName(crypto.randomUUID());

function usageRows(stub: DurableObjectStub<AgentLedger>): Promise<number> {
  return runInDurableObject(stub, (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM usage").one().n);
}

describe("AgentLedger budgets", () => {
  it("answers a daily cap's refusal with the time until its oldest charge leaves the window", async () => {
    const stub = ledger();
    expect(await stub.issue([], charge(T0), [DAILY], T0)).toEqual({ ok: true });
    expect(await stub.issue([], charge(T0 + HOUR_MS), [DAILY], T0 + HOUR_MS)).toEqual({ ok: true });
    // The first charge's hour counts for 25 hours from its start: until T0 + 24 h 30 min, 22 h 30 min after this refusal.
    const later = T0 + 2 * HOUR_MS;
    expect(await stub.issue([], charge(later), [DAILY], later)).toEqual({
      ok: false,
      reason: "budget",
      budget: DAILY.name,
      retryAfterSeconds: (22 * HOUR_MS + 30 * MINUTE_MS) / SECOND_MS,
    });
    const freed = T0 + 24 * HOUR_MS + 30 * MINUTE_MS;
    expect(await stub.issue([], charge(freed - SECOND_MS), [DAILY], freed - SECOND_MS)).toMatchObject({ ok: false, retryAfterSeconds: 1 });
    expect(await usageRows(stub)).toBe(2);
    expect(await stub.issue([], charge(freed), [DAILY], freed)).toEqual({ ok: true });
  });

  it("reports what is left of each budget the way the check counts it", async () => {
    const stub = ledger();
    const rules = [RATE, DAILY];
    expect(await stub.issue([], charge(T0), rules, T0)).toEqual({ ok: true });
    expect(await stub.issue([], charge(T0), rules, T0)).toEqual({ ok: true });
    // One token is left in the bucket, and one more drips back within the next second.
    const { remaining } = await stub.summary(rules, T0 + SECOND_MS);
    expect(remaining).toEqual([
      { budget: RATE.name, remaining: 2 },
      { budget: DAILY.name, remaining: 0 },
    ]);
  });
});
