import type { Bucket, BudgetState } from "../worker/budgets/budget-check.ts";
import type { BudgetRule } from "../worker/budgets/budget-rules.ts";

/**
 * SQL helpers of the AgentLedger's budget tables. Module functions, so they stay off the object's RPC surface.
 *
 * Daily caps are kept as running totals in hourly buckets (`usage`), so a check reads at most 25 rows per rule
 * however many tokens the agent was issued. The window is the current hour plus the 24 before it: between 24
 * and 25 hours, never less than the day the policy promises.
 */

const HOUR_MS = 60 * 60 * 1000;
export const WINDOW_HOURS = 24;

export const hourOf = (ms: number): number => Math.floor(ms / HOUR_MS);

export function readBudgetState(sql: SqlStorage, rules: readonly BudgetRule[], now: number): BudgetState {
  const buckets = new Map<string, Bucket>();
  const dailyUsed = new Map<string, number>();
  const dailyOldest = new Map<string, number>();
  const firstHour = hourOf(now) - WINDOW_HOURS;
  for (const rule of rules) {
    if (rule.kind === "rate") {
      const row = sql
        .exec<{ tokens: number; updated_at: number }>("SELECT tokens, updated_at FROM buckets WHERE name = ?", rule.name)
        .toArray()[0];
      if (row) buckets.set(rule.name, { tokens: row.tokens, updatedAt: row.updated_at });
      continue;
    }
    const row = sql
      .exec<{ used: number | null; oldest: number | null }>(
        "SELECT SUM(used) AS used, MIN(hour) AS oldest FROM usage WHERE rule = ? AND hour >= ?",
        rule.name,
        firstHour,
      )
      .one();
    dailyUsed.set(rule.name, row.used ?? 0);
    // The oldest bucket leaves the window when the hour after it is WINDOW_HOURS old.
    if (row.oldest !== null) dailyOldest.set(rule.name, (row.oldest + 1) * HOUR_MS - 24 * HOUR_MS);
  }
  return { buckets, dailyUsed, dailyOldest };
}

/** Charges one token: bucket levels after the take, and each daily rule's cost into the current hour. */
export function chargeBudgets(
  sql: SqlStorage,
  rules: readonly BudgetRule[],
  buckets: ReadonlyMap<string, Bucket>,
  units: Record<string, number>,
  now: number,
): void {
  for (const [name, bucket] of buckets)
    sql.exec("INSERT OR REPLACE INTO buckets (name, tokens, updated_at) VALUES (?, ?, ?)", name, bucket.tokens, bucket.updatedAt);
  for (const rule of rules) {
    if (rule.kind !== "daily") continue;
    const cost = rule.unit === "tokens" ? 1 : (units[rule.unit] ?? 0);
    if (cost !== 0) addUsage(sql, rule.name, hourOf(now), cost);
  }
}

/** Drops the hourly totals that have left every window. Needed once per hour, not per token. */
export function pruneUsage(sql: SqlStorage, now: number): void {
  sql.exec("DELETE FROM usage WHERE hour < ?", hourOf(now) - WINDOW_HOURS);
}

/** A usage report replaces a token's charged units with what it used, in the hour the token was issued. */
export function adjustUsage(
  sql: SqlStorage,
  rules: readonly BudgetRule[],
  token: { useCase: string; issuedAt: number; charged: Record<string, number> },
  used: Record<string, number>,
): void {
  for (const rule of rules) {
    if (rule.kind !== "daily" || rule.unit === "tokens" || used[rule.unit] === undefined) continue;
    if (rule.useCaseId !== undefined && rule.useCaseId !== token.useCase) continue;
    const delta = (used[rule.unit] as number) - (token.charged[rule.unit] ?? 0);
    if (delta !== 0) addUsage(sql, rule.name, hourOf(token.issuedAt), delta);
  }
}

function addUsage(sql: SqlStorage, rule: string, hour: number, amount: number): void {
  sql.exec(
    "INSERT INTO usage (rule, hour, used) VALUES (?, ?, ?) ON CONFLICT (rule, hour) DO UPDATE SET used = used + excluded.used",
    rule,
    hour,
    amount,
  );
}
