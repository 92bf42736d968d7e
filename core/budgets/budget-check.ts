import { retryAfterSeconds } from "../../lib/time.ts";
import type { BudgetRule } from "./budget-rules.ts";
import { hourOf, leavesWindowAt } from "./daily-window.ts";
import { type Bucket, refill, untilNextToken } from "./token-bucket.ts";

export type BudgetState = {
  /** By rule name. Missing means full. */
  buckets: ReadonlyMap<string, Bucket>;
  /** Units consumed in each daily window (`daily-window.ts`) by rule name (tokens counted as 1 each). */
  dailyUsed: ReadonlyMap<string, number>;
  /** When the oldest charge counted in each daily window leaves it (epoch ms), by rule name. */
  dailyFreesAt: ReadonlyMap<string, number>;
};

export type BudgetCheck = { ok: true; buckets: Map<string, Bucket> } | { ok: false; budget: string; retryAfterSeconds: number };

/**
 * Whether one more token fits every budget, and the buckets after taking it. Pure: the ledger calls it inside
 * its transaction with the state it read, so the check and the charge are one atomic step.
 */
export function checkBudgets(
  rules: readonly BudgetRule[],
  state: BudgetState,
  charge: { units: Record<string, number> },
  now: number,
): BudgetCheck {
  const buckets = new Map<string, Bucket>();
  for (const rule of rules) {
    if (rule.kind === "rate") {
      const bucket = refill(state.buckets.get(rule.name), rule, now);
      if (bucket.tokens < 1) return { ok: false, budget: rule.name, retryAfterSeconds: retryAfterSeconds(untilNextToken(bucket, rule)) };
      buckets.set(rule.name, { tokens: bucket.tokens - 1, updatedAt: bucket.updatedAt });
    } else {
      const cost = rule.unit === "tokens" ? 1 : (charge.units[rule.unit] ?? 0);
      const used = state.dailyUsed.get(rule.name) ?? 0;
      if (cost > 0 && used + cost > rule.cap) {
        // Nothing counted yet (this charge alone exceeds the cap): as long as a charge made now would count.
        const freesAt = state.dailyFreesAt.get(rule.name) ?? leavesWindowAt(hourOf(now));
        return { ok: false, budget: rule.name, retryAfterSeconds: retryAfterSeconds(freesAt - now) };
      }
    }
  }
  return { ok: true, buckets };
}
