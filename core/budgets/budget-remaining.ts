import type { BudgetState } from "./budget-check.ts";
import type { BudgetRule } from "./budget-rules.ts";
import { refill } from "./token-bucket.ts";

/** What is left of each budget at `now`: whole tokens in a rate bucket, units under a daily cap (never below 0). */
export function budgetsRemaining(
  rules: readonly BudgetRule[],
  state: Pick<BudgetState, "buckets" | "dailyUsed">,
  now: number,
): { budget: string; remaining: number }[] {
  return rules.map((rule) =>
    rule.kind === "rate"
      ? { budget: rule.name, remaining: Math.floor(refill(state.buckets.get(rule.name), rule, now).tokens) }
      : { budget: rule.name, remaining: Math.max(0, rule.cap - (state.dailyUsed.get(rule.name) ?? 0)) },
  );
}
