import { DurableObject } from "cloudflare:workers";
import { checkBudgets } from "../core/budgets/budget-check.ts";
import { budgetsRemaining } from "../core/budgets/budget-remaining.ts";
import type { BudgetRule } from "../core/budgets/budget-rules.ts";
import type { Bucket } from "../core/budgets/token-bucket.ts";
import { epochSeconds } from "../lib/time.ts";
import type { ApprovalStatus } from "../schemas/approval.ts";
import type { AuditEvent } from "../schemas/audit.ts";
import { type ApprovalReservation, ApprovalReservations, type ReserveResult } from "./agent-ledger/approval-reservations.ts";
import { AuditOutbox } from "./agent-ledger/audit-outbox.ts";
import { BudgetStore } from "./agent-ledger/budget-store.ts";
import { LEDGER_MIGRATIONS } from "./agent-ledger/migrations.ts";
import { type ProofUse, ReplayGuard } from "./agent-ledger/replay-guard.ts";
import { type Charge, type HourlyUsage, type RecentToken, TokenRegistry, type TokenStatus } from "./agent-ledger/token-registry.ts";
import type { AuditLog } from "./audit-log.ts";
import { GroupCommit } from "./group-commit.ts";
import { migrate } from "./migrations.ts";

export type { ApprovalReservation, Charge, HourlyUsage, ProofUse, ReserveResult, TokenStatus };
export type AdmitResult = { ok: true } | { ok: false; replayedJti: string };
/** A CIBA poll's proofs burnt, and whether its request is still on the agent's books (the kill switch takes it off). */
export type PollAdmission = { ok: true; onBooks: boolean } | { ok: false; replayedJti: string };
export type IssueResult =
  /** `audited`: the request's audit event was stored with the token (absent when none was given). */
  | { ok: true; audited?: true }
  | { ok: false; reason: "disabled" }
  | { ok: false; reason: "replayed"; replayedJti: string }
  | { ok: false; reason: "budget"; budget: string; retryAfterSeconds: number }
  /** Delegation: the subject token this one is derived from is no longer active (revoked, or before the kill switch). */
  | { ok: false; reason: "parent_inactive" };
/** The arguments of one `issue` call, as `issueMany` takes them. */
export type IssueCall = { proofs: ProofUse[]; charge: Charge; rules: BudgetRule[]; now: number; audit?: AuditEvent; parent?: ParentToken };
/** One answer of `issueMany`: the call's result, or the message of the error it alone threw. */
export type IssueAnswer = IssueResult | { ok: false; reason: "thrown"; message: string };
/** Delegation (docs/delegation.md): the subject token a delegated token is derived from, checked in the subject's ledger. */
export type ParentToken = { jti: string; issuedAtSeconds: number };
/** How long after its issue a delegated token's hold may be given back: the one request's lifetime, with room to spare. */
export const HOLD_RELEASE_WINDOW_MS = 60_000;
export type AgentSummary = {
  disabled: boolean;
  notBefore: number;
  remaining: { budget: string; remaining: number }[];
  recent: RecentToken[];
  openApprovals: number;
};
export type UsageResult =
  | { ok: true; overLimit: string[]; disabled: boolean; openApprovals: string[] }
  | { ok: false; reason: "unknown_token" | "already_reported" };

/** The bindings a ledger uses: the audit shards it forwards its outbox to. */
export type LedgerBindings = { AUDIT_LOG: DurableObjectNamespace<AuditLog> };

/**
 * One object per agent, so load spreads across agents, and one round trip per token: the replay guard, the kill
 * switch, the budgets, the token's row and its audit event live together so that issuing is one transaction. This
 * class is the RPC surface only; each table belongs to one store in `agent-ledger/` (docs/storage-schema.md), and
 * this facade composes them in transactions, owns the group commit and the one alarm.
 */
export class AgentLedger extends DurableObject<LedgerBindings> {
  readonly #replay: ReplayGuard;
  readonly #approvals: ApprovalReservations;
  readonly #tokens: TokenRegistry;
  readonly #budgets: BudgetStore;
  readonly #outbox: AuditOutbox;
  /** Token and poll calls of many concurrent requests share one commit; each still answers only once it is durable. */
  readonly #group: GroupCommit;
  /** The alarm as last set (epoch ms), so a later deadline does not move it. */
  #alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: LedgerBindings) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    const wakeAt = (at: number) => this.#wakeAt(at);
    this.#replay = new ReplayGuard(sql, wakeAt);
    this.#approvals = new ApprovalReservations(sql);
    this.#tokens = new TokenRegistry(sql);
    this.#budgets = new BudgetStore(sql);
    this.#outbox = new AuditOutbox(sql, env.AUDIT_LOG, wakeAt);
    this.#group = new GroupCommit(ctx.storage, () => this.#rolledBack());
    ctx.blockConcurrencyWhile(async () => {
      migrate(sql, LEDGER_MIGRATIONS);
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  /**
   * The token path's one round trip: refuse a disabled agent, burn the proofs, check every budget and charge the
   * token, all in one transaction, so that no concurrency can double-spend a budget or reuse a proof. Nothing
   * is written on refusal. Calls arriving together are committed together (group commit). `audit`, the request's
   * audit event, is written in the same transaction and forwarded to its audit shard afterwards.
   */
  async issue(
    proofs: ProofUse[],
    charge: Charge,
    rules: BudgetRule[],
    now: number,
    audit?: AuditEvent,
    /**
     * Delegation, in the subject's ledger: the subject token, and every token it was derived from, must still be
     * active here, in the same transaction; it is recorded as the new token's parent.
     */
    parent?: ParentToken,
  ): Promise<IssueResult> {
    const result = await this.#group.run(() => this.#issueNow(proofs, charge, rules, now, audit, parent));
    if (result.ok && audit) this.#outbox.schedule();
    return result;
  }

  /**
   * Several `issue` calls in one round trip (the edge batches concurrent token requests of one agent, issue #15):
   * each is the same call as `issue`, in order, sharing the group's commit, and gets its own answer; a call that
   * throws (a bug) fails alone, its error's message in place of its answer.
   */
  issueMany(calls: IssueCall[]): Promise<IssueAnswer[]> {
    return Promise.all(
      calls.map((call) =>
        this.issue(call.proofs, call.charge, call.rules, call.now, call.audit, call.parent).then(
          (result): IssueAnswer => result,
          (error: unknown): IssueAnswer => ({
            ok: false,
            reason: "thrown",
            message: error instanceof Error ? error.message : String(error),
          }),
        ),
      ),
    );
  }

  #issueNow(
    proofs: ProofUse[],
    charge: Charge,
    rules: BudgetRule[],
    now: number,
    audit: AuditEvent | undefined,
    parent: ParentToken | undefined,
  ): IssueResult {
    // Runs inside the group's transaction. Reads first, writes last: a refusal leaves nothing behind.
    const budget = this.#admission(proofs, charge, rules, now, parent);
    if (!budget.ok) return budget;
    this.#replay.record(proofs);
    const hold = this.#budgets.charge(rules, budget.buckets, charge.units, now);
    this.#tokens.record(charge, now, hold, parent?.jti);
    if (!audit) return { ok: true };
    this.#outbox.add(audit);
    return { ok: true, audited: true };
  }

  /**
   * What `issue` would answer now, writing nothing: delegation (docs/delegation.md) asks the actor's ledger first, so
   * that a replayed actor token, a disabled actor or its spent budget is refused before the subject's ledger is
   * charged. Only a hint: `issue` checks everything again in its own transaction.
   */
  precheck(proofs: ProofUse[], charge: Charge, rules: BudgetRule[], now: number): IssueResult {
    const admission = this.#admission(proofs, charge, rules, now, undefined);
    return admission.ok ? { ok: true } : admission;
  }

  /** Every check of `issue`, reads only: the buckets after the take, or the refusal. */
  #admission(
    proofs: ProofUse[],
    charge: Charge,
    rules: BudgetRule[],
    now: number,
    parent: ParentToken | undefined,
  ): Exclude<IssueResult, { ok: true }> | { ok: true; buckets: Map<string, Bucket> } {
    if (this.#tokens.state().disabled) return { ok: false, reason: "disabled" };
    if (parent !== undefined && !this.#tokens.status(parent.jti, parent.issuedAtSeconds).active)
      return { ok: false, reason: "parent_inactive" };
    const replayed = this.#replay.firstReplayed(proofs, epochSeconds(now));
    if (replayed !== undefined) return { ok: false, reason: "replayed", replayedJti: replayed };
    // A token id the ledger already recorded is the same issuance sent again: refused as a value, never the
    // primary-key failure that would roll back the whole group commit and throw across RPC (issue 11 item 8).
    if (this.#tokens.has(charge.jti)) return { ok: false, reason: "replayed", replayedJti: charge.jti };
    const budget = checkBudgets(rules, this.#budgets.read(rules, now), charge, now);
    if (!budget.ok) return { ok: false, reason: "budget", budget: budget.budget, retryAfterSeconds: budget.retryAfterSeconds };
    return { ok: true, buckets: budget.buckets };
  }

  /**
   * Delegation's compensating step (docs/delegation.md): the actor's ledger refused a token this ledger already
   * charged, so the token is revoked and exactly what it took is given back. Only a delegated token's hold, only
   * once, only within `HOLD_RELEASE_WINDOW_MS` of its issue: a repeated or late call gives back nothing. `rules`
   * supply the buckets' rates only. Returns whether anything was given back.
   */
  releaseDelegated(jti: string, rules: BudgetRule[], now: number): Promise<boolean> {
    return this.#group.run(() => {
      const hold = this.#tokens.takeHold(jti, now, HOLD_RELEASE_WINDOW_MS);
      if (hold === undefined) return false;
      this.#budgets.release(hold, rules, now);
      return true;
    });
  }

  /** Atomically: refuse if any proof was seen before, otherwise record them all. Nothing is written on refusal. */
  admit(proofs: ProofUse[], nowSeconds: number): Promise<AdmitResult> {
    return this.#group.run(() => {
      const replayed = this.#replay.burn(proofs, nowSeconds);
      return replayed === undefined ? { ok: true } : { ok: false, replayedJti: replayed };
    });
  }

  /**
   * A CIBA poll's first step, before the request is touched (issue 11: a replayed poll must not move its polling
   * state): burns the proofs or names the replayed one, and says whether the request is still on the books.
   */
  admitPoll(proofs: ProofUse[], approvalId: string, now: number): Promise<PollAdmission> {
    return this.#group.run((): PollAdmission => {
      const replayed = this.#replay.burn(proofs, epochSeconds(now));
      if (replayed !== undefined) return { ok: false, replayedJti: replayed };
      return { ok: true, onBooks: this.#approvals.onBooks(approvalId, now) };
    });
  }

  /**
   * Opening an approval request, in one transaction with burning the agent's proofs: an identical request
   * that is still open answers with the same auth_req_id (no second round of emails), and an agent can hold
   * at most `cap` open requests, so it cannot flood approvers' inboxes.
   */
  reserveApproval(proofs: ProofUse[], reservation: ApprovalReservation, cap: number, now: number): ReserveResult {
    return this.#transaction((): ReserveResult => {
      const slot = this.#approvals.slotFor(reservation.requestHash, cap, now);
      if (slot.kind === "capped") return slot;
      const replayed = this.#replay.burn(proofs, epochSeconds(now));
      if (replayed !== undefined) return { kind: "replayed", replayedJti: replayed };
      if (slot.kind === "existing") return slot;
      this.#approvals.open(reservation);
      return { kind: "reserved" };
    });
  }

  /** A decided request no longer deduplicates or counts against the cap; an approved one stays for the kill switch. */
  closeApproval(requestHash: string, status: ApprovalStatus): void {
    this.#transaction(() => this.#approvals.close(requestHash, status));
  }

  /** Undo a reservation whose approval request could not be opened. */
  releaseApproval(approvalId: string): void {
    this.#approvals.release(approvalId);
  }

  /**
   * Kill switch: refuse every new token, make every token issued so far inactive at /introspect (a
   * not-before watermark), and hand back every request on the books, pending or approved, for the caller to
   * cancel. Switching back on hands back the requests opened while the agent was off: none of them may yield a token.
   */
  setDisabled(disabled: boolean, now: number): { openApprovals: string[] } {
    return this.#transaction(() => {
      if (disabled) return { openApprovals: this.#disable(now) };
      this.#tokens.enable(now);
      return { openApprovals: this.#approvals.takeAll() };
    });
  }

  /**
   * Whether the kill switch is on, reads only: delegation (docs/delegation.md) refuses a new token derived in the
   * name of an actor of the subject token's chain that has been switched off.
   */
  isDisabled(): boolean {
    return this.#tokens.state().disabled;
  }

  /** For RFC 7662 introspection: whether a validly signed token of this agent (or any token it was derived from) is still good. */
  tokenStatus(jti: string, issuedAtSeconds: number): TokenStatus {
    return this.#tokens.status(jti, issuedAtSeconds);
  }

  /** RFC 7009: revoke one token until it expires. Idempotent; an unknown jti is not an error (§2.2). */
  revoke(jti: string, now: number): void {
    this.#tokens.revoke(jti, now);
  }

  /**
   * What a token really consumed, reported once by the service: from then on the daily budgets count the
   * reported units instead of the token's limits. Units beyond the limits are returned (and may disable the agent).
   */
  reportUsage(jti: string, used: Record<string, number>, rules: BudgetRule[], disableOnOveruse: boolean, now: number): UsageResult {
    return this.#transaction((): UsageResult => {
      const report = this.#tokens.reportUsage(jti, used, now);
      if (!report.ok) return report;
      this.#budgets.adjust(rules, report.token, used);
      const { overLimit } = report;
      if (overLimit.length === 0 || !disableOnOveruse) return { ok: true, overLimit, disabled: false, openApprovals: [] };
      return { ok: true, overLimit, disabled: true, openApprovals: this.#disable(now) };
    });
  }

  /** For GET /admin/agents/:id: status, what is left of each budget, and the latest tokens. */
  summary(rules: BudgetRule[], now: number): AgentSummary {
    const { disabled, notBefore } = this.#tokens.state();
    const remaining = budgetsRemaining(rules, this.#budgets.read(rules, now), now);
    return { disabled, notBefore, remaining, recent: this.#tokens.recent(), openApprovals: this.#approvals.countOpen(now) };
  }

  /**
   * For the admin page's usage chart: tokens issued since `since` (epoch ms) and the units they count, per clock
   * hour, oldest first (hours without a token left out). Reads only: the token path writes nothing for it.
   */
  usageByHour(since: number): HourlyUsage[] {
    return this.#tokens.perHour(since);
  }

  /** Forwards audit events left behind; drops expired proofs and tokens past their retention. */
  override async alarm(): Promise<void> {
    this.#alarmAt = null;
    await this.#outbox.drain();
    const now = Date.now();
    this.#replay.purgeExpired(epochSeconds(now));
    this.#tokens.purgeOld(now);
  }

  /** Inside a transaction: switch the agent off and take its approval requests off the books. */
  #disable(now: number): string[] {
    this.#tokens.disable(now);
    return this.#approvals.takeAll();
  }

  #transaction<T>(work: () => T): T {
    try {
      return this.ctx.storage.transactionSync(work);
    } catch (error) {
      this.#rolledBack();
      throw error;
    }
  }

  /** A rolled-back transaction may leave memory ahead of storage: drop every mirror, and forget which alarm is set. */
  #rolledBack(): void {
    this.#tokens.reset();
    this.#budgets.reset();
    this.#outbox.reset();
    this.#alarmAt = null;
  }

  #wakeAt(at: number): void {
    // One alarm per object, at the earliest deadline; later deadlines are picked up when it fires.
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }
}
