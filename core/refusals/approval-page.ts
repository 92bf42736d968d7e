/**
 * Every way an approver's request on an approval page can end without a decision. Answered as an HTML page
 * (worker/pages/approval-outcome-pages.tsx holds each one's status and wording).
 */
export type ApprovalProblem =
  | "unknown_link"
  | "link_used"
  | "expired"
  | "cancelled"
  | "decided"
  | "already_decided"
  | "bad_nonce"
  | "not_an_approver"
  | "owner_barred"
  | "auth_required"
  | "passkey_failed"
  | "access_failed"
  | "access_not_configured"
  | "bad_request"
  | "unavailable"
  | "not_found";
