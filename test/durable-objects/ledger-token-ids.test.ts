import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { BudgetRule } from "../../core/budgets/budget-rules.ts";

const RULES: BudgetRule[] = [{ name: "rows per day", kind: "daily", unit: "max_rows", cap: 250 }];
const charge = (jti: string = crypto.randomUUID()) => ({ jti, useCaseId: "u", units: { max_rows: 100 }, expiresAt: Date.now() + 60_000 });

/**
 * Issue 11 item 8: a token id the ledger already recorded used to fail its primary key inside the group commit,
 * roll the whole group back, run every piece again and throw across RPC (workerd logged an uncaught
 * `UNIQUE constraint failed: issued_tokens.jti`). It is an answer now, and the other calls of the group are untouched.
 */
describe("AgentLedger: token ids", () => {
  it("refuses a token id it already recorded as a value, in a group with other calls, and keeps the budgets exact", async () => {
    const ledger = env.AGENT_LEDGER.getByName(`ids-${crypto.randomUUID()}`);
    const now = Date.now();
    const first = charge();
    expect(await ledger.issue([], first, RULES, now)).toEqual({ ok: true });
    const good = charge();
    // Promise.all, not allSettled: any rejection (an exception thrown across RPC) fails this test.
    const results = await Promise.all([ledger.issue([], charge(first.jti), RULES, now), ledger.issue([], good, RULES, now)]);
    expect(results).toEqual([{ ok: false, reason: "replayed", replayedJti: first.jti }, { ok: true }]);
    // Two tokens of 100 rows were charged, the refused one nothing: 50 of 250 rows remain.
    expect((await ledger.summary(RULES, now)).remaining).toEqual([{ budget: "rows per day", remaining: 50 }]);
    const ids = await runInDurableObject(ledger, (_instance, state) =>
      state.storage.sql
        .exec<{ jti: string }>("SELECT jti FROM issued_tokens ORDER BY jti")
        .toArray()
        .map((r) => r.jti),
    );
    expect(ids).toEqual([first.jti, good.jti].sort());
  });

  it("refuses the second of two calls with one token id in the same group", async () => {
    const ledger = env.AGENT_LEDGER.getByName(`ids-${crypto.randomUUID()}`);
    const now = Date.now();
    const twice = charge();
    const results = await Promise.all([ledger.issue([], twice, RULES, now), ledger.issue([], charge(twice.jti), RULES, now)]);
    expect(results).toEqual([{ ok: true }, { ok: false, reason: "replayed", replayedJti: twice.jti }]);
    expect((await ledger.summary(RULES, now)).remaining).toEqual([{ budget: "rows per day", remaining: 150 }]);
  });
});
