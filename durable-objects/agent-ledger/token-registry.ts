import { DAY_MS, HOUR_MS, SECOND_MS } from "../../lib/time.ts";
import type { BudgetHold } from "./budget-store.ts";

/**
 * One token about to be issued: what it costs and until when it lives (epoch ms). For a delegated token
 * (docs/delegation.md): `actor` in the subject's ledger, `actedFor` in the actor's.
 */
export type Charge = {
  jti: string;
  useCaseId: string;
  units: Record<string, number>;
  expiresAt: number;
  actor?: string;
  actedFor?: string;
};
export type TokenStatus =
  | { active: true }
  /** `ancestor_inactive`: a delegated token whose subject token (or one of its ancestors) was revoked or killed. */
  | { active: false; reason: "agent_disabled" | "issued_before_watermark" | "revoked" | "ancestor_inactive" };
export type AgentState = { disabled: boolean; notBefore: number };
export type RecentToken = {
  jti: string;
  use_case: string;
  issued_at: number;
  expires_at: number;
  revoked_at: number | null;
  used_units: Record<string, number> | null;
};
/**
 * One clock hour of an agent's tokens, for the admin page's chart: `hour` is the hour's number (epoch ms / 1 h, as
 * `core/budgets/daily-window.ts` counts hours), `units` what those tokens count against the budgets, as
 * `BudgetStore.adjust` counts them: each unit's reported use where a service reported it, otherwise the limit the
 * token was issued with.
 */
export type HourlyUsage = { hour: number; tokens: number; units: Record<string, number> };
/** A usage report as recorded: the units over the token's limits, and the token whose budgets it adjusts. */
export type UsageReport =
  | { ok: true; overLimit: string[]; token: { useCase: string; issuedAt: number; charged: Record<string, number> } }
  | { ok: false; reason: "unknown_token" | "already_reported" };

/** Issued tokens are kept for the rolling daily window, which also outlives every token (max TTL 1 h) for revocation. */
const ISSUED_RETENTION_MS = DAY_MS;
/** A token's clock hour in SQL: integer division of an integer column by an integer literal (a bound number may arrive as a REAL). */
const HOUR_SQL = `issued_at / ${HOUR_MS}`;
/** The admin view's latest tokens. */
const RECENT_TOKENS = 20;

/**
 * The kill switch (`agent_state`) and the tokens the agent was issued (`issued_tokens`): whether a token is still
 * good, its revocation (RFC 7009) and its usage report. Its methods run inside the ledger's transaction.
 */
export class TokenRegistry {
  readonly #sql: SqlStorage;
  /** agent_state as last read; dropped before every write to it, so a rolled-back write is never remembered. */
  #stateCache: AgentState | undefined;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  reset(): void {
    this.#stateCache = undefined;
  }

  state(): AgentState {
    if (this.#stateCache) return this.#stateCache;
    const row = this.#sql.exec<{ disabled: number; not_before: number }>("SELECT disabled, not_before FROM agent_state").toArray()[0];
    this.#stateCache = { disabled: row?.disabled === 1, notBefore: row?.not_before ?? 0 };
    return this.#stateCache;
  }

  /** Kill switch: refuse every new token and make every token issued up to `now` inactive for good (a watermark). */
  disable(now: number): void {
    this.#stateCache = undefined;
    this.#sql.exec("INSERT OR REPLACE INTO agent_state (id, disabled, not_before, changed_at) VALUES (1, 1, ?, ?)", now, now);
  }

  /** Lets new tokens through again; the watermark stays, so tokens issued before it stay inactive. */
  enable(now: number): void {
    this.#stateCache = undefined;
    this.#sql.exec("UPDATE agent_state SET disabled = 0, changed_at = ?", now);
  }

  /** Whether a token with this id was recorded (and not yet purged). */
  has(jti: string): boolean {
    return this.#sql.exec("SELECT 1 FROM issued_tokens WHERE jti = ?", jti).toArray().length > 0;
  }

  /**
   * `hold`: what the token took from the budgets, kept for a delegated token so that `release` can give it back.
   * `parent`: for a delegated token, the subject token's jti, so that `status` can walk the chain up.
   */
  record(charge: Charge, now: number, hold?: BudgetHold, parent?: string): void {
    this.#sql.exec(
      "INSERT INTO issued_tokens (jti, use_case, issued_at, expires_at, units, actor, acted_for, hold, parent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      charge.jti,
      charge.useCaseId,
      now,
      charge.expiresAt,
      JSON.stringify(charge.units),
      charge.actor ?? null,
      charge.actedFor ?? null,
      charge.actor !== undefined && hold !== undefined ? JSON.stringify(hold) : null,
      parent ?? null,
    );
  }

  /**
   * Takes back a delegated token that was never handed out: revokes it and returns its hold, once (the hold is
   * cleared), and only within `windowMs` of its issue, so a late or repeated call can give back nothing.
   */
  takeHold(jti: string, now: number, windowMs: number): BudgetHold | undefined {
    const row = this.#sql
      .exec<{ hold: string | null; issued_at: number }>("SELECT hold, issued_at FROM issued_tokens WHERE jti = ?", jti)
      .toArray()[0];
    if (!row || row.hold === null || now - row.issued_at > windowMs) return undefined;
    this.#sql.exec("UPDATE issued_tokens SET hold = NULL, revoked_at = COALESCE(revoked_at, ?) WHERE jti = ?", now, jti);
    return JSON.parse(row.hold) as BudgetHold;
  }

  /**
   * Whether a token is still good: the agent on, the token issued after the kill switch's watermark, not revoked,
   * and, for a delegated token, every ancestor it was derived from likewise (docs/delegation.md): revoking a subject
   * token ends everything derived from it. An ancestor this ledger never recorded (or already purged: it outlived
   * its retention, so its descendants expired) is judged by what its child's issue already checked.
   */
  status(jti: string, issuedAtSeconds: number): TokenStatus {
    const state = this.state();
    if (state.disabled) return { active: false, reason: "agent_disabled" };
    const row = this.#row(jti);
    // The ledger knows when, to the millisecond, it issued the token; `iat` (whole seconds) is the fallback.
    const issuedAt = row?.issued_at ?? issuedAtSeconds * SECOND_MS;
    if (issuedAt <= state.notBefore) return { active: false, reason: "issued_before_watermark" };
    if (row?.revoked_at != null) return { active: false, reason: "revoked" };
    // The chain is as deep as the policy's `max_depth`; `seen` guards against a cycle all the same.
    const seen = new Set([jti]);
    for (let parent = row?.parent ?? null; parent !== null && !seen.has(parent); ) {
      seen.add(parent);
      const ancestor = this.#row(parent);
      if (!ancestor) break;
      if (ancestor.issued_at <= state.notBefore || ancestor.revoked_at !== null) return { active: false, reason: "ancestor_inactive" };
      parent = ancestor.parent;
    }
    return { active: true };
  }

  #row(jti: string): { issued_at: number; revoked_at: number | null; parent: string | null } | undefined {
    return this.#sql
      .exec<{ issued_at: number; revoked_at: number | null; parent: string | null }>(
        "SELECT issued_at, revoked_at, parent FROM issued_tokens WHERE jti = ?",
        jti,
      )
      .toArray()[0];
  }

  /** Idempotent; an unknown jti is not an error (RFC 7009 §2.2). */
  revoke(jti: string, now: number): void {
    this.#sql.exec("UPDATE issued_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL", now, jti);
  }

  /** Records what a token really consumed, once; the units it used beyond its limits are named. */
  reportUsage(jti: string, used: Record<string, number>, now: number): UsageReport {
    const row = this.#sql
      .exec<{ units: string; reported_at: number | null; use_case: string; issued_at: number }>(
        "SELECT units, reported_at, use_case, issued_at FROM issued_tokens WHERE jti = ?",
        jti,
      )
      .toArray()[0];
    if (!row) return { ok: false, reason: "unknown_token" };
    if (row.reported_at !== null) return { ok: false, reason: "already_reported" };
    const limits = JSON.parse(row.units) as Record<string, number>;
    const overLimit = Object.entries(used)
      .filter(([unit, value]) => limits[unit] === undefined || value > (limits[unit] as number))
      .map(([unit]) => unit);
    this.#sql.exec("UPDATE issued_tokens SET used_units = ?, reported_at = ? WHERE jti = ?", JSON.stringify(used), now, jti);
    return { ok: true, overLimit, token: { useCase: row.use_case, issuedAt: row.issued_at, charged: limits } };
  }

  /** The latest tokens, newest first, for the admin view. */
  recent(): RecentToken[] {
    return this.#sql
      .exec<{ jti: string; use_case: string; issued_at: number; expires_at: number; revoked_at: number | null; used_units: string | null }>(
        "SELECT jti, use_case, issued_at, expires_at, revoked_at, used_units FROM issued_tokens ORDER BY issued_at DESC LIMIT ?",
        RECENT_TOKENS,
      )
      .toArray()
      .map((r) => ({ ...r, used_units: r.used_units === null ? null : (JSON.parse(r.used_units) as Record<string, number>) }));
  }

  /**
   * Tokens issued at or after `since` (epoch ms) and their units, summed per clock hour in SQL (the day can hold
   * thousands of tokens; the answer is at most 25 rows), oldest hour first. Hours without a token are left out.
   * Reads only; the index on `issued_at` bounds the scan to the window.
   */
  perHour(since: number): HourlyUsage[] {
    const byHour = new Map<number, HourlyUsage>();
    const counts = this.#sql.exec<{ hour: number; tokens: number }>(
      `SELECT ${HOUR_SQL} AS hour, COUNT(*) AS tokens FROM issued_tokens WHERE issued_at >= ? GROUP BY hour ORDER BY hour`,
      since,
    );
    for (const { hour, tokens } of counts) byHour.set(hour, { hour, tokens, units: {} });
    const units = this.#sql.exec<{ hour: number; unit: string; amount: number }>(
      `SELECT ${HOUR_SQL} AS hour, u.key AS unit, SUM(u.value) AS amount
         FROM issued_tokens, json_each(json_patch(units, COALESCE(used_units, '{}'))) AS u
        WHERE issued_at >= ? GROUP BY hour, unit`,
      since,
    );
    for (const { hour, unit, amount } of units) {
      const row = byHour.get(hour);
      if (row) row.units[unit] = amount;
    }
    return [...byHour.values()];
  }

  /** Drops tokens older than the retention (`now`: epoch ms). */
  purgeOld(now: number): void {
    this.#sql.exec("DELETE FROM issued_tokens WHERE issued_at <= ?", now - ISSUED_RETENTION_MS);
  }
}
