import { DurableObject } from "cloudflare:workers";
import { migrate } from "./migrations.ts";

const MIGRATIONS = [
  `CREATE TABLE used_assertions (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX used_assertions_by_expiry ON used_assertions (expires_at);`,
  `CREATE TABLE open_approvals (request_hash TEXT PRIMARY KEY, approval_id TEXT NOT NULL UNIQUE, auth_req_id TEXT NOT NULL,
     expires_at INTEGER NOT NULL) WITHOUT ROWID;`,
];

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

/**
 * One object per agent, so load spreads across agents. It remembers every assertion `jti` the agent has
 * used until that assertion would have expired anyway (RFC 7523 §3 item 7), which is what makes replay
 * detection exact. Budgets (issue #4) join this object so that a token costs one round trip.
 */
export class AgentLedger extends DurableObject {
  #alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage.sql, MIGRATIONS);
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  /** Atomically: refuse if any proof was seen before, otherwise record them all. Nothing is written on refusal. */
  admit(proofs: ProofUse[], nowSeconds: number): AdmitResult {
    const replayed = this.ctx.storage.transactionSync(() => this.#burn(proofs, nowSeconds));
    return replayed === undefined ? { ok: true } : { ok: false, replayedJti: replayed };
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
    const sql = this.ctx.storage.sql;
    for (const proof of proofs) {
      const seen = sql.exec("SELECT 1 FROM used_assertions WHERE jti = ? AND expires_at >= ?", proof.jti, nowSeconds).toArray();
      if (seen.length > 0) return proof.jti;
    }
    for (const proof of proofs)
      sql.exec("INSERT OR REPLACE INTO used_assertions (jti, expires_at) VALUES (?, ?)", proof.jti, proof.expiresAt);
    if (proofs.length > 0) this.#armAlarm(Math.min(...proofs.map((p) => p.expiresAt)));
    return undefined;
  }

  /** Expired proofs can no longer be replayed (their exp check fails first), so they are dropped. */
  override async alarm(): Promise<void> {
    const nowSeconds = Math.floor(Date.now() / 1000);
    this.ctx.storage.sql.exec("DELETE FROM used_assertions WHERE expires_at < ?", nowSeconds);
    this.#alarmAt = null;
    const next = this.ctx.storage.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM used_assertions").one().at;
    if (next !== null) this.#armAlarm(next);
  }

  #armAlarm(expiresAtSeconds: number): void {
    // One alarm per object, at the earliest deadline; later deadlines are picked up when it fires.
    const at = (expiresAtSeconds + 1) * 1000;
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }
}
