import type { Bucket, BudgetState } from "../worker/budgets/budget-check.ts";
import { DAY_MS } from "../worker/budgets/budget-check.ts";
import type { BudgetRule } from "../worker/budgets/budget-rules.ts";

/** SQL helpers of the AgentLedger's budget tables. Module functions, so they stay off the object's RPC surface. */

export function readBudgetState(sql: SqlStorage, rules: readonly BudgetRule[], now: number): BudgetState {
  const buckets = new Map<string, Bucket>();
  const dailyUsed = new Map<string, number>();
  const dailyOldest = new Map<string, number>();
  const since = now - DAY_MS;
  for (const rule of rules) {
    if (rule.kind === "rate") {
      const row = sql
        .exec<{ tokens: number; updated_at: number }>("SELECT tokens, updated_at FROM buckets WHERE name = ?", rule.name)
        .toArray()[0];
      if (row) buckets.set(rule.name, { tokens: row.tokens, updatedAt: row.updated_at });
      continue;
    }
    const scope = rule.useCaseId === undefined ? "" : " AND use_case = ?";
    const scopeArgs = rule.useCaseId === undefined ? [] : [rule.useCaseId];
    const cost = rule.unit === "tokens" ? "1" : "COALESCE(json_extract(used_units, ?), json_extract(units, ?), 0)";
    const unitArgs = rule.unit === "tokens" ? [] : [jsonPath(rule.unit), jsonPath(rule.unit)];
    const row = sql
      .exec<{ used: number | null; oldest: number | null }>(
        `SELECT SUM(${cost}) AS used, MIN(issued_at) AS oldest FROM issued_tokens WHERE issued_at > ?${scope}`,
        ...unitArgs,
        since,
        ...scopeArgs,
      )
      .one();
    dailyUsed.set(rule.name, row.used ?? 0);
    if (row.oldest !== null) dailyOldest.set(rule.name, row.oldest);
  }
  return { buckets, dailyUsed, dailyOldest };
}

export function writeBuckets(sql: SqlStorage, buckets: ReadonlyMap<string, Bucket>): void {
  for (const [name, bucket] of buckets)
    sql.exec("INSERT OR REPLACE INTO buckets (name, tokens, updated_at) VALUES (?, ?, ?)", name, bucket.tokens, bucket.updatedAt);
}

/** `$."max_rows"`: a JSON path for one limit name, quoted so that no name can reach outside its key. */
function jsonPath(unit: string): string {
  return `$."${unit.replace(/["\\]/g, "")}"`;
}
