import { DurableObject } from "cloudflare:workers";
import { shardOf } from "../core/audit/shards.ts";
import { checkBudgets } from "../core/budgets/budget-check.ts";
import type { BudgetRule } from "../core/budgets/budget-rules.ts";
import { log } from "../lib/log.ts";
import { DAY_MS } from "../lib/time.ts";
import type { AuditEvent } from "../schemas/audit.ts";
import type { AuditLog } from "./audit-log.ts";
import { GroupCommit } from "./group-commit.ts";
import { BudgetStore } from "./ledger-budgets.ts";
import { migrate } from "./migrations.ts";

const MIGRATIONS = [
  `CREATE TABLE used_assertions (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX used_assertions_by_expiry ON used_assertions (expires_at);`,
  `CREATE TABLE open_approvals (request_hash TEXT PRIMARY KEY, approval_id TEXT NOT NULL UNIQUE, auth_req_id TEXT NOT NULL,
     expires_at INTEGER NOT NULL) WITHOUT ROWID;`,
  `CREATE TABLE agent_state (id INTEGER PRIMARY KEY CHECK (id = 1), disabled INTEGER NOT NULL, not_before INTEGER NOT NULL, changed_at INTEGER NOT NULL);
   -- not_before: epoch ms of the last kill switch; tokens issued up to then are inactive for good.
   CREATE TABLE issued_tokens (jti TEXT PRIMARY KEY, use_case TEXT NOT NULL, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
     units TEXT NOT NULL, used_units TEXT, reported_at INTEGER, revoked_at INTEGER) WITHOUT ROWID;
   CREATE INDEX issued_tokens_by_time ON issued_tokens (issued_at);
   CREATE TABLE buckets (name TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;`,
  `CREATE TABLE usage (rule TEXT NOT NULL, hour INTEGER NOT NULL, used REAL NOT NULL, PRIMARY KEY (rule, hour)) WITHOUT ROWID;`,
  // Audit events written with the token they describe, until their audit shard has them. AUTOINCREMENT: a seq is
  // never reused, so the shard can recognise (and skip) a batch it already has.
  `CREATE TABLE audit_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, shard TEXT NOT NULL, body TEXT NOT NULL);`,
];

/** Audit events forwarded per call to an audit shard. */
const FORWARD_BATCH = 256;
/**
 * How long an issued token's audit event waits in the outbox for others to share its forwarding call. Under load
 * that turns one call per token into one per window; the event itself is already durable in the outbox.
 */
const FORWARD_DELAY_MS = 1_000;
/** When forwarding fails, the alarm tries again this much later; the events wait, durable, in the outbox. */
const FORWARD_RETRY_MS = 30_000;

/** Issued tokens are kept for the rolling daily window, which also outlives every token (max TTL 1 h) for revocation. */
const ISSUED_RETENTION_MS = DAY_MS;

/** One identity proof to burn: its `jti` and when it stops being acceptable anyway (epoch seconds). */
export type ProofUse = { jti: string; expiresAt: number };
export type AdmitResult = { ok: true } | { ok: false; replayedJti: string };

/** A new approval request the agent wants to open; times in epoch milliseconds. */
export type ApprovalReservation = { requestHash: string; approvalId: string; authReqId: string; expiresAt: number };
export type ReserveResult =
  | { kind: "reserved" }
  | { kind: "existing"; approvalId: string; authReqId: string; expiresAt: number }
  | { kind: "capped"; retryAfterSeconds: number }
  | { kind: "replayed"; replayedJti: string };

/** One token about to be issued: what it costs and until when it lives (epoch ms). */
export type Charge = { jti: string; useCaseId: string; units: Record<string, number>; expiresAt: number };
export type IssueResult =
  /** `audited`: the request's audit event was stored with the token (absent when none was given). */
  | { ok: true; audited?: true }
  | { ok: false; reason: "disabled" }
  | { ok: false; reason: "replayed"; replayedJti: string }
  | { ok: false; reason: "budget"; budget: string; retryAfterSeconds: number };

export type TokenStatus = { active: true } | { active: false; reason: "agent_disabled" | "issued_before_watermark" | "revoked" };
export type AgentSummary = {
  disabled: boolean;
  notBefore: number;
  remaining: { budget: string; remaining: number }[];
  recent: {
    jti: string;
    use_case: string;
    issued_at: number;
    expires_at: number;
    revoked_at: number | null;
    used_units: Record<string, number> | null;
  }[];
  openApprovals: number;
};
export type UsageResult =
  | { ok: true; overLimit: string[]; disabled: boolean; openApprovals: string[] }
  | { ok: false; reason: "unknown_token" | "already_reported" };

/** The bindings a ledger uses: the audit shards it forwards its outbox to. */
export type LedgerBindings = { AUDIT_LOG: DurableObjectNamespace<AuditLog> };

/**
 * One object per agent, so load spreads across agents. It remembers every assertion `jti` the agent has
 * used until that assertion would have expired anyway (RFC 7523 §3 item 7), which is what makes replay
 * detection exact. Budgets (issue #4) and each issued token's audit event (issue #6) join this object so that a
 * token costs one round trip.
 */
export class AgentLedger extends DurableObject<LedgerBindings> {
  #alarmAt: number | null = null;
  #forwarding: Promise<void> | undefined;
  #forwardTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Outbox events up to this seq are in their shards. Their rows are deleted by the next write transaction
   * (no commit of their own); forgotten on eviction, in which case the shard skips the re-sent events.
   */
  #forwardedSeq = 0;
  /** Outbox rows up to this seq are deleted already. */
  #clearedSeq = 0;
  #budgets: BudgetStore;
  /** agent_state as last read; dropped before every write to it, so a rolled-back write is never remembered. */
  #stateCache: { disabled: boolean; notBefore: number } | undefined;
  /** Token and poll calls of many concurrent requests share one commit; each still answers only once it is durable. */
  #group: GroupCommit;

  constructor(ctx: DurableObjectState, env: LedgerBindings) {
    super(ctx, env);
    this.#group = new GroupCommit(ctx.storage, () => {
      // A rolled-back group may leave memory ahead of storage: drop the caches, and forget which alarm is set so
      // the next proof sets one again.
      this.#stateCache = undefined;
      this.#alarmAt = null;
      this.#clearedSeq = 0;
      this.#budgets.reset();
    });
    this.#budgets = new BudgetStore(ctx.storage.sql);
    ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage.sql, MIGRATIONS);
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  /**
   * The token path's one round trip: refuse a disabled agent, burn the proofs, check every budget and charge the
   * token, all in one transaction, so that no concurrency can double-spend a budget or reuse a proof. Nothing
   * is written on refusal. Calls arriving together are committed together (group commit). `audit`, the request's
   * audit event, is written in the same transaction and forwarded to its audit shard afterwards.
   */
  async issue(proofs: ProofUse[], charge: Charge, rules: BudgetRule[], now: number, audit?: AuditEvent): Promise<IssueResult> {
    const result = await this.#group.run(() => this.#issueNow(proofs, charge, rules, now, audit));
    if (result.ok && audit) this.#scheduleForward();
    return result;
  }

  #issueNow(proofs: ProofUse[], charge: Charge, rules: BudgetRule[], now: number, audit: AuditEvent | undefined): IssueResult {
    // Runs inside the group's transaction. Reads first, writes last: a refusal leaves nothing behind.
    const sql = this.ctx.storage.sql;
    if (this.#state().disabled) return { ok: false, reason: "disabled" };
    const replayed = this.#firstReplayed(proofs, Math.floor(now / 1000));
    if (replayed !== undefined) return { ok: false, reason: "replayed", replayedJti: replayed };
    const budget = checkBudgets(rules, this.#budgets.read(rules, now), charge, now);
    if (!budget.ok) return { ok: false, reason: "budget", budget: budget.budget, retryAfterSeconds: budget.retryAfterSeconds };
    this.#record(proofs);
    this.#budgets.charge(rules, budget.buckets, charge.units, now);
    sql.exec(
      "INSERT INTO issued_tokens (jti, use_case, issued_at, expires_at, units) VALUES (?, ?, ?, ?, ?)",
      charge.jti,
      charge.useCaseId,
      now,
      charge.expiresAt,
      JSON.stringify(charge.units),
    );
    if (audit) {
      this.#clearForwarded();
      sql.exec("INSERT INTO audit_outbox (shard, body) VALUES (?, ?)", shardOf(audit.agent, audit.ts), JSON.stringify(audit));
      return { ok: true, audited: true };
    }
    return { ok: true };
  }

  /** Atomically: refuse if any proof was seen before, otherwise record them all. Nothing is written on refusal. */
  admit(proofs: ProofUse[], nowSeconds: number): Promise<AdmitResult> {
    return this.#group.run(() => {
      const replayed = this.#burn(proofs, nowSeconds);
      return replayed === undefined ? { ok: true } : { ok: false, replayedJti: replayed };
    });
  }

  /**
   * Opening an approval request, in one transaction with burning the agent's proofs: an identical request
   * that is still open answers with the same auth_req_id (no second round of emails), and an agent can hold
   * at most `cap` open requests, so it cannot flood approvers' inboxes.
   */
  reserveApproval(proofs: ProofUse[], reservation: ApprovalReservation, cap: number, now: number): ReserveResult {
    return this.ctx.storage.transactionSync((): ReserveResult => {
      const sql = this.ctx.storage.sql;
      sql.exec("DELETE FROM open_approvals WHERE expires_at <= ?", now);
      const existing = sql
        .exec<{ approval_id: string; auth_req_id: string; expires_at: number }>(
          "SELECT approval_id, auth_req_id, expires_at FROM open_approvals WHERE request_hash = ?",
          reservation.requestHash,
        )
        .toArray()[0];
      const open = sql
        .exec<{ n: number; soonest: number | null }>("SELECT COUNT(*) AS n, MIN(expires_at) AS soonest FROM open_approvals")
        .one();
      if (!existing && open.n >= cap)
        return { kind: "capped", retryAfterSeconds: Math.max(1, Math.ceil(((open.soonest ?? now) - now) / 1000)) };
      const replayed = this.#burn(proofs, Math.floor(now / 1000));
      if (replayed !== undefined) return { kind: "replayed", replayedJti: replayed };
      if (existing)
        return { kind: "existing", approvalId: existing.approval_id, authReqId: existing.auth_req_id, expiresAt: existing.expires_at };
      sql.exec(
        "INSERT INTO open_approvals (request_hash, approval_id, auth_req_id, expires_at) VALUES (?, ?, ?, ?)",
        reservation.requestHash,
        reservation.approvalId,
        reservation.authReqId,
        reservation.expiresAt,
      );
      return { kind: "reserved" };
    });
  }

  /** A decided request no longer deduplicates or counts against the cap. */
  closeApproval(requestHash: string): void {
    this.ctx.storage.sql.exec("DELETE FROM open_approvals WHERE request_hash = ?", requestHash);
  }

  /** Undo a reservation whose approval request could not be opened. */
  releaseApproval(approvalId: string): void {
    this.ctx.storage.sql.exec("DELETE FROM open_approvals WHERE approval_id = ?", approvalId);
  }

  /** Inside a transaction: the first replayed jti, or undefined after recording all proofs. */
  #burn(proofs: ProofUse[], nowSeconds: number): string | undefined {
    const replayed = this.#firstReplayed(proofs, nowSeconds);
    if (replayed === undefined) this.#record(proofs);
    return replayed;
  }

  #firstReplayed(proofs: ProofUse[], nowSeconds: number): string | undefined {
    const sql = this.ctx.storage.sql;
    return proofs.find(
      (proof) => sql.exec("SELECT 1 FROM used_assertions WHERE jti = ? AND expires_at >= ?", proof.jti, nowSeconds).toArray().length > 0,
    )?.jti;
  }

  #record(proofs: ProofUse[]): void {
    for (const proof of proofs)
      this.ctx.storage.sql.exec("INSERT OR REPLACE INTO used_assertions (jti, expires_at) VALUES (?, ?)", proof.jti, proof.expiresAt);
    if (proofs.length > 0) this.#armAlarm(Math.min(...proofs.map((p) => p.expiresAt)));
  }

  /**
   * Kill switch: refuse every new token, make every token issued so far inactive at /introspect (a
   * not-before watermark), and hand back the open approval requests for the caller to cancel.
   */
  setDisabled(disabled: boolean, now: number): { openApprovals: string[] } {
    return this.ctx.storage.transactionSync(() => {
      if (disabled) return this.#disable(now);
      this.#stateCache = undefined;
      this.ctx.storage.sql.exec("UPDATE agent_state SET disabled = 0, changed_at = ?", now);
      return { openApprovals: [] };
    });
  }

  /** Inside a transaction: switch the agent off and take its open approval requests off the books. */
  #disable(now: number): { openApprovals: string[] } {
    const sql = this.ctx.storage.sql;
    this.#stateCache = undefined;
    sql.exec("INSERT OR REPLACE INTO agent_state (id, disabled, not_before, changed_at) VALUES (1, 1, ?, ?)", now, now);
    const open = sql
      .exec<{ approval_id: string }>("SELECT approval_id FROM open_approvals")
      .toArray()
      .map((r) => r.approval_id);
    sql.exec("DELETE FROM open_approvals");
    return { openApprovals: open };
  }

  /** For RFC 7662 introspection: whether a validly signed token of this agent is still good. */
  tokenStatus(jti: string, issuedAtSeconds: number): TokenStatus {
    const state = this.#state();
    if (state.disabled) return { active: false, reason: "agent_disabled" };
    const row = this.ctx.storage.sql
      .exec<{ issued_at: number; revoked_at: number | null }>("SELECT issued_at, revoked_at FROM issued_tokens WHERE jti = ?", jti)
      .toArray()[0];
    // The ledger knows when, to the millisecond, it issued the token; `iat` (whole seconds) is the fallback.
    const issuedAt = row?.issued_at ?? issuedAtSeconds * 1000;
    if (issuedAt <= state.notBefore) return { active: false, reason: "issued_before_watermark" };
    return row?.revoked_at != null ? { active: false, reason: "revoked" } : { active: true };
  }

  /** RFC 7009: revoke one token until it expires. Idempotent; an unknown jti is not an error (§2.2). */
  revoke(jti: string, now: number): void {
    this.ctx.storage.sql.exec("UPDATE issued_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL", now, jti);
  }

  /**
   * What a token really consumed, reported once by the service: from then on the daily budgets count the
   * reported units instead of the token's limits. Units beyond the limits are returned (and may disable the agent).
   */
  reportUsage(jti: string, used: Record<string, number>, rules: BudgetRule[], disableOnOveruse: boolean, now: number): UsageResult {
    try {
      return this.#reportUsage(jti, used, rules, disableOnOveruse, now);
    } catch (error) {
      // Rolled back: the budget mirror may hold the adjustment that storage no longer does.
      this.#budgets.reset();
      throw error;
    }
  }

  #reportUsage(jti: string, used: Record<string, number>, rules: BudgetRule[], disableOnOveruse: boolean, now: number): UsageResult {
    return this.ctx.storage.transactionSync((): UsageResult => {
      const sql = this.ctx.storage.sql;
      const row = sql
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
      sql.exec("UPDATE issued_tokens SET used_units = ?, reported_at = ? WHERE jti = ?", JSON.stringify(used), now, jti);
      this.#budgets.adjust(rules, { useCase: row.use_case, issuedAt: row.issued_at, charged: limits }, used);
      const disable = overLimit.length > 0 && disableOnOveruse;
      if (!disable) return { ok: true, overLimit, disabled: false, openApprovals: [] };
      return { ok: true, overLimit, disabled: true, openApprovals: this.#disable(now).openApprovals };
    });
  }

  /** For GET /admin/agents/:id: status, what is left of each budget, and the latest tokens. */
  summary(rules: BudgetRule[], now: number): AgentSummary {
    const sql = this.ctx.storage.sql;
    const state = this.#state();
    const budget = this.#budgets.read(rules, now);
    const remaining = rules.map((rule) => {
      if (rule.kind === "daily") return { budget: rule.name, remaining: Math.max(0, rule.cap - (budget.dailyUsed.get(rule.name) ?? 0)) };
      const bucket = budget.buckets.get(rule.name);
      const tokens = bucket ? Math.min(rule.burst, bucket.tokens + ((now - bucket.updatedAt) * rule.perMinute) / 60_000) : rule.burst;
      return { budget: rule.name, remaining: Math.floor(tokens) };
    });
    const recent = sql
      .exec<{ jti: string; use_case: string; issued_at: number; expires_at: number; revoked_at: number | null; used_units: string | null }>(
        "SELECT jti, use_case, issued_at, expires_at, revoked_at, used_units FROM issued_tokens ORDER BY issued_at DESC LIMIT 20",
      )
      .toArray()
      .map((r) => ({ ...r, used_units: r.used_units === null ? null : (JSON.parse(r.used_units) as Record<string, number>) }));
    const openApprovals = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM open_approvals WHERE expires_at > ?", now).one().n;
    return { disabled: state.disabled, notBefore: state.notBefore, remaining, recent, openApprovals };
  }

  #state(): { disabled: boolean; notBefore: number } {
    if (this.#stateCache) return this.#stateCache;
    const row = this.ctx.storage.sql
      .exec<{ disabled: number; not_before: number }>("SELECT disabled, not_before FROM agent_state")
      .toArray()[0];
    this.#stateCache = { disabled: row?.disabled === 1, notBefore: row?.not_before ?? 0 };
    return this.#stateCache;
  }

  #clearForwarded(): void {
    if (this.#forwardedSeq <= this.#clearedSeq) return;
    this.ctx.storage.sql.exec("DELETE FROM audit_outbox WHERE seq <= ?", this.#forwardedSeq);
    this.#clearedSeq = this.#forwardedSeq;
  }

  #scheduleForward(): void {
    this.#forwardTimer ??= setTimeout(() => {
      this.#forwardTimer = undefined;
      if (this.#forwarding) this.#scheduleForward();
      else void this.#forwardAudit();
    }, FORWARD_DELAY_MS);
  }

  /**
   * Sends the outbox's audit events to their shards, oldest first; their rows go with the next write. One run at a
   * time, at most every FORWARD_DELAY_MS, so under load one call carries many events. A shard skips events it
   * already has (by seq), so a batch sent twice is recorded once.
   */
  #forwardAudit(): Promise<void> {
    this.#forwarding ??= (async () => {
      try {
        while ((await this.#forwardBatch()) === FORWARD_BATCH);
      } catch (error) {
        const pending = this.ctx.storage.sql
          .exec<{ n: number }>("SELECT COUNT(*) AS n FROM audit_outbox WHERE seq > ?", this.#forwardedSeq)
          .one().n;
        log("error", "audit_forward_failed", { pending, message: error instanceof Error ? error.message : String(error) });
        this.#armAlarmAt(Date.now() + FORWARD_RETRY_MS);
      } finally {
        this.#forwarding = undefined;
      }
    })();
    return this.#forwarding;
  }

  /** Forwards the oldest events not yet forwarded; how many. */
  async #forwardBatch(): Promise<number> {
    const sql = this.ctx.storage.sql;
    const rows = sql
      .exec<{ seq: number; shard: string; body: string }>(
        "SELECT seq, shard, body FROM audit_outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        this.#forwardedSeq,
        FORWARD_BATCH,
      )
      .toArray();
    const last = rows.at(-1);
    if (!last) return 0;
    await Promise.all(
      [...Map.groupBy(rows, (row) => row.shard)].map(([shard, shardRows]) =>
        this.env.AUDIT_LOG.getByName(shard).appendForwarded(
          shard,
          shardRows.map((row) => ({ seq: row.seq, event: JSON.parse(row.body) as AuditEvent })),
        ),
      ),
    );
    this.#forwardedSeq = last.seq;
    return rows.length;
  }

  /** Forwards audit events left behind; drops expired proofs (their exp check fails first, so they cannot be replayed) and old tokens. */
  override async alarm(): Promise<void> {
    this.#alarmAt = null;
    await this.#forwardAudit();
    this.#clearForwarded();
    const nowSeconds = Math.floor(Date.now() / 1000);
    this.ctx.storage.sql.exec("DELETE FROM used_assertions WHERE expires_at < ?", nowSeconds);
    this.ctx.storage.sql.exec("DELETE FROM issued_tokens WHERE issued_at <= ?", Date.now() - ISSUED_RETENTION_MS);
    const next = this.ctx.storage.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM used_assertions").one().at;
    if (next !== null) this.#armAlarm(next);
  }

  #armAlarm(expiresAtSeconds: number): void {
    this.#armAlarmAt((expiresAtSeconds + 1) * 1000);
  }

  #armAlarmAt(at: number): void {
    // One alarm per object, at the earliest deadline; later deadlines are picked up when it fires.
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }
}
