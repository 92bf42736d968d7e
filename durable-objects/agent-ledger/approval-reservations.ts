import { retryAfterSeconds } from "../../lib/time.ts";
/** A new approval request the agent wants to open; times in epoch milliseconds. */
export type ApprovalReservation = { requestHash: string; approvalId: string; authReqId: string; expiresAt: number };
export type ReserveResult =
  | { kind: "reserved" }
  | { kind: "existing"; approvalId: string; authReqId: string; expiresAt: number }
  | { kind: "capped"; retryAfterSeconds: number }
  | { kind: "replayed"; replayedJti: string };

/** Where a new request would go: beside an identical open one, into a free slot, or nowhere (capped). */
export type Slot = Extract<ReserveResult, { kind: "existing" | "capped" }> | { kind: "free" };

/**
 * `open_approvals`: the agent's pending CIBA requests, so that an identical request still open answers with the same
 * auth_req_id (no second round of emails) and an agent holds at most `cap` of them (it cannot flood approvers'
 * inboxes). Its methods run inside the ledger's transaction.
 */
export class ApprovalReservations {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** Purges expired reservations, then finds where this one would go. */
  slotFor(requestHash: string, cap: number, now: number): Slot {
    this.#sql.exec("DELETE FROM open_approvals WHERE expires_at <= ?", now);
    const existing = this.#sql
      .exec<{ approval_id: string; auth_req_id: string; expires_at: number }>(
        "SELECT approval_id, auth_req_id, expires_at FROM open_approvals WHERE request_hash = ?",
        requestHash,
      )
      .toArray()[0];
    if (existing)
      return { kind: "existing", approvalId: existing.approval_id, authReqId: existing.auth_req_id, expiresAt: existing.expires_at };
    const open = this.#sql
      .exec<{ n: number; soonest: number | null }>("SELECT COUNT(*) AS n, MIN(expires_at) AS soonest FROM open_approvals")
      .one();
    if (open.n < cap) return { kind: "free" };
    return { kind: "capped", retryAfterSeconds: retryAfterSeconds((open.soonest ?? now) - now) };
  }

  open(reservation: ApprovalReservation): void {
    this.#sql.exec(
      "INSERT INTO open_approvals (request_hash, approval_id, auth_req_id, expires_at) VALUES (?, ?, ?, ?)",
      reservation.requestHash,
      reservation.approvalId,
      reservation.authReqId,
      reservation.expiresAt,
    );
  }

  close(requestHash: string): void {
    this.#sql.exec("DELETE FROM open_approvals WHERE request_hash = ?", requestHash);
  }

  release(approvalId: string): void {
    this.#sql.exec("DELETE FROM open_approvals WHERE approval_id = ?", approvalId);
  }

  /** Takes every open request off the books (the kill switch); their ids, for the caller to cancel. */
  takeAll(): string[] {
    const ids = this.#sql
      .exec<{ approval_id: string }>("SELECT approval_id FROM open_approvals")
      .toArray()
      .map((r) => r.approval_id);
    this.#sql.exec("DELETE FROM open_approvals");
    return ids;
  }

  /** Requests still open at `now`. */
  countOpen(now: number): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM open_approvals WHERE expires_at > ?", now).one().n;
  }
}
