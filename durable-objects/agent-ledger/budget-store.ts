import type { BudgetState } from "../../core/budgets/budget-check.ts";
import type { BudgetRule } from "../../core/budgets/budget-rules.ts";
import { firstHourAt, hourOf, windowUsage } from "../../core/budgets/daily-window.ts";
import { type Bucket, refill } from "../../core/budgets/token-bucket.ts";

/** What one token took from the budgets: the rate buckets it took one token from, each daily rule's cost in its hour. */
export type BudgetHold = { hour: number; rate: string[]; daily: Record<string, number> };

/**
 * The AgentLedger's budget tables (`buckets`, `usage`), behind a write-through mirror in memory. The ledger is their
 * only writer and handles one call at a time, so reads can come from the mirror and stay exact; every write goes to
 * SQLite first. A rolled-back transaction may leave the mirror ahead of storage: the ledger then calls `reset()`, and
 * the next read loads from storage again.
 *
 * Daily caps are kept as running totals in hourly buckets (`usage`); which of them count at a given time is
 * `core/budgets/daily-window.ts`'s to say.
 */
export class BudgetStore {
  readonly #sql: SqlStorage;
  /** By rule name; null: no row (a full bucket). */
  #buckets = new Map<string, Bucket | null>();
  /** By rule name: used units by hour. */
  #usage = new Map<string, Map<number, number>>();
  /** The hour whose expired totals were last pruned. */
  #prunedHour: number | undefined;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  reset(): void {
    this.#buckets.clear();
    this.#usage.clear();
    this.#prunedHour = undefined;
  }

  read(rules: readonly BudgetRule[], now: number): BudgetState {
    const buckets = new Map<string, Bucket>();
    const dailyUsed = new Map<string, number>();
    const dailyFreesAt = new Map<string, number>();
    for (const rule of rules) {
      if (rule.kind === "rate") {
        const bucket = this.#bucket(rule.name);
        if (bucket) buckets.set(rule.name, bucket);
        continue;
      }
      const usage = windowUsage(this.#hours(rule.name), now);
      dailyUsed.set(rule.name, usage.used);
      if (usage.freesAt !== undefined) dailyFreesAt.set(rule.name, usage.freesAt);
    }
    return { buckets, dailyUsed, dailyFreesAt };
  }

  /** Charges one token: bucket levels after the take, and each daily rule's cost into the current hour. Returns what it took. */
  charge(rules: readonly BudgetRule[], buckets: ReadonlyMap<string, Bucket>, units: Record<string, number>, now: number): BudgetHold {
    const hold: BudgetHold = { hour: hourOf(now), rate: [], daily: {} };
    for (const [name, bucket] of buckets) {
      this.#putBucket(name, bucket);
      hold.rate.push(name);
    }
    for (const rule of rules) {
      if (rule.kind !== "daily") continue;
      const cost = rule.unit === "tokens" ? 1 : (units[rule.unit] ?? 0);
      if (cost === 0) continue;
      this.#addUsage(rule.name, hold.hour, cost);
      hold.daily[rule.name] = cost;
    }
    // Totals that left every window go once an hour, not with every token.
    if (rules.length > 0 && this.#prunedHour !== hourOf(now)) this.#prune(now);
    return hold;
  }

  /**
   * Gives back what one charge took (a delegated token the actor's ledger then refused, docs/delegation.md): each
   * daily total loses the cost it gained (never below zero), each bucket gets its one token back (never above its
   * burst). `rules` only supply the buckets' rates; a rule the hold does not name is not touched.
   */
  release(hold: BudgetHold, rules: readonly BudgetRule[], now: number): void {
    for (const rule of rules) {
      if (rule.kind !== "rate" || !hold.rate.includes(rule.name)) continue;
      // The refilled bucket's time, never `now`: a late release must not move it back (refill says why).
      const bucket = refill(this.#bucket(rule.name) ?? undefined, rule, now);
      this.#putBucket(rule.name, { tokens: Math.min(rule.burst, bucket.tokens + 1), updatedAt: bucket.updatedAt });
    }
    for (const [rule, cost] of Object.entries(hold.daily)) {
      const used = this.#hours(rule).get(hold.hour) ?? 0;
      const back = Math.min(cost, used);
      if (back > 0) this.#addUsage(rule, hold.hour, -back);
    }
  }

  /** Storage first, then the mirror. */
  #putBucket(name: string, bucket: Bucket): void {
    this.#sql.exec("INSERT OR REPLACE INTO buckets (name, tokens, updated_at) VALUES (?, ?, ?)", name, bucket.tokens, bucket.updatedAt);
    this.#buckets.set(name, bucket);
  }

  /** A usage report replaces a token's charged units with what it used, in the hour the token was issued. */
  adjust(
    rules: readonly BudgetRule[],
    token: { useCase: string; issuedAt: number; charged: Record<string, number> },
    used: Record<string, number>,
  ): void {
    for (const rule of rules) {
      if (rule.kind !== "daily" || rule.unit === "tokens" || used[rule.unit] === undefined) continue;
      if (rule.useCaseId !== undefined && rule.useCaseId !== token.useCase) continue;
      const delta = (used[rule.unit] as number) - (token.charged[rule.unit] ?? 0);
      if (delta !== 0) this.#addUsage(rule.name, hourOf(token.issuedAt), delta);
    }
  }

  #bucket(name: string): Bucket | null {
    let bucket = this.#buckets.get(name);
    if (bucket === undefined) {
      const row = this.#sql
        .exec<{ tokens: number; updated_at: number }>("SELECT tokens, updated_at FROM buckets WHERE name = ?", name)
        .toArray()[0];
      bucket = row ? { tokens: row.tokens, updatedAt: row.updated_at } : null;
      this.#buckets.set(name, bucket);
    }
    return bucket;
  }

  #hours(rule: string): Map<number, number> {
    let hours = this.#usage.get(rule);
    if (!hours) {
      const rows = this.#sql.exec<{ hour: number; used: number }>("SELECT hour, used FROM usage WHERE rule = ?", rule).toArray();
      hours = new Map(rows.map((r) => [r.hour, r.used]));
      this.#usage.set(rule, hours);
    }
    return hours;
  }

  #addUsage(rule: string, hour: number, amount: number): void {
    const hours = this.#hours(rule);
    this.#sql.exec(
      "INSERT INTO usage (rule, hour, used) VALUES (?, ?, ?) ON CONFLICT (rule, hour) DO UPDATE SET used = used + excluded.used",
      rule,
      hour,
      amount,
    );
    hours.set(hour, (hours.get(hour) ?? 0) + amount);
  }

  #prune(now: number): void {
    const firstHour = firstHourAt(now);
    this.#sql.exec("DELETE FROM usage WHERE hour < ?", firstHour);
    for (const hours of this.#usage.values()) for (const hour of hours.keys()) if (hour < firstHour) hours.delete(hour);
    this.#prunedHour = hourOf(now);
  }
}
