import { DAY_MS } from "../../lib/time.ts";
import type { BudgetRule } from "./budget-rules.ts";

/** A token bucket's stored state: tokens left and when that was computed (epoch ms). */
export type Bucket = { tokens: number; updatedAt: number };

export type BudgetState = {
  /** By rule name. Missing means full. */
  buckets: ReadonlyMap<string, Bucket>;
  /** Units consumed in the last 24 h by rule name (tokens counted as 1 each). */
  dailyUsed: ReadonlyMap<string, number>;
  /** When the oldest charge in each daily window ages out (epoch ms), by rule name. */
  dailyOldest: ReadonlyMap<string, number>;
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
      if (bucket.tokens < 1) {
        const perMs = rule.perMinute / 60_000;
        return { ok: false, budget: rule.name, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)) };
      }
      buckets.set(rule.name, { tokens: bucket.tokens - 1, updatedAt: now });
    } else {
      const cost = rule.unit === "tokens" ? 1 : (charge.units[rule.unit] ?? 0);
      const used = state.dailyUsed.get(rule.name) ?? 0;
      if (cost > 0 && used + cost > rule.cap) {
        const oldest = state.dailyOldest.get(rule.name) ?? now;
        return { ok: false, budget: rule.name, retryAfterSeconds: Math.max(1, Math.ceil((oldest + DAY_MS - now) / 1000)) };
      }
    }
  }
  return { ok: true, buckets };
}

function refill(bucket: Bucket | undefined, rule: { perMinute: number; burst: number }, now: number): Bucket {
  if (!bucket) return { tokens: rule.burst, updatedAt: now };
  const elapsed = Math.max(0, now - bucket.updatedAt);
  return { tokens: Math.min(rule.burst, bucket.tokens + (elapsed * rule.perMinute) / 60_000), updatedAt: now };
}
