import { DAY_MS, retryAfterSeconds } from "../../lib/time.ts";
import type { ApprovalStatus } from "../../schemas/approval.ts";
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
 * How long an approved request stays on the books after its request deadline: the longest lease the policy allows
 * (`lease_seconds` ≤ 24 h, counted from the approval, which comes before the deadline). Keeping it longer than its
 * lease costs nothing: the request itself refuses an ended lease; the kill switch only has to be able to find it.
 */
const APPROVED_KEPT_AFTER_DEADLINE_MS = DAY_MS;

/**
 * The agent's CIBA requests that can still lead to a token, "on the books":
 * - `open_approvals`: pending requests, so that an identical request still open answers with the same auth_req_id
 *   (no second round of emails) and an agent holds at most `cap` of them (it cannot flood approvers' inboxes);
 * - `approved_requests`: approved requests whose token (or lease) may still be collected. They no longer count
 *   against the cap, but the kill switch must find them (issue 11: an approval outlived disabling the agent).
 * A request taken off the books by the kill switch can never be collected, even if cancelling it failed. Its
 * methods run inside the ledger's transaction.
 */
export class ApprovalReservations {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** Purges expired reservations, then finds where this one would go. */
  slotFor(requestHash: string, cap: number, now: number): Slot {
    this.#purge(now);
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

  /** A decided request stops deduplicating and counting against the cap; an approved one stays on the books. */
  close(requestHash: string, status: ApprovalStatus): void {
    const row = this.#sql
      .exec<{ approval_id: string; expires_at: number }>(
        "SELECT approval_id, expires_at FROM open_approvals WHERE request_hash = ?",
        requestHash,
      )
      .toArray()[0];
    if (!row) return;
    this.#sql.exec("DELETE FROM open_approvals WHERE request_hash = ?", requestHash);
    if (status === "approved")
      this.#sql.exec(
        "INSERT OR REPLACE INTO approved_requests (approval_id, until) VALUES (?, ?)",
        row.approval_id,
        row.expires_at + APPROVED_KEPT_AFTER_DEADLINE_MS,
      );
  }

  release(approvalId: string): void {
    this.#sql.exec("DELETE FROM open_approvals WHERE approval_id = ?", approvalId);
  }

  /** Whether a request is still on the books: pending and not past its deadline, or approved and findable. */
  onBooks(approvalId: string, now: number): boolean {
    return (
      this.#sql
        .exec(
          `SELECT 1 FROM open_approvals WHERE approval_id = ? AND expires_at > ?
           UNION ALL SELECT 1 FROM approved_requests WHERE approval_id = ? AND until > ?`,
          approvalId,
          now,
          approvalId,
          now,
        )
        .toArray().length > 0
    );
  }

  /** Takes every request off the books (the kill switch, pending and approved alike); their ids, for the caller to cancel. */
  takeAll(): string[] {
    const ids = this.#sql
      .exec<{ approval_id: string }>("SELECT approval_id FROM open_approvals UNION SELECT approval_id FROM approved_requests")
      .toArray()
      .map((r) => r.approval_id);
    this.#sql.exec("DELETE FROM open_approvals");
    this.#sql.exec("DELETE FROM approved_requests");
    return ids;
  }

  /** Pending requests still open at `now` (what the cap counts). */
  countOpen(now: number): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM open_approvals WHERE expires_at > ?", now).one().n;
  }

  #purge(now: number): void {
    this.#sql.exec("DELETE FROM open_approvals WHERE expires_at <= ?", now);
    this.#sql.exec("DELETE FROM approved_requests WHERE until <= ?", now);
  }
}
