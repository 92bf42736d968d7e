/** Every way a CIBA request (OpenID CIBA §7, §11) or its poll can end without a token, beyond the token reasons. */
export type CibaReason =
  | { code: "approval_required"; useCase: string }
  | { code: "approval_not_needed"; useCase: string }
  | { code: "too_many_open_approvals"; retryAfterSeconds: number }
  | { code: "auth_req_id_invalid" }
  | { code: "authorization_pending" }
  | { code: "slow_down" }
  | { code: "approval_denied" }
  | { code: "approval_cancelled" }
  | { code: "approval_expired" }
  | { code: "approval_collected" }
  /** At collection: the policy changed since the approval in a way the token cannot simply be narrowed to. */
  | { code: "approval_outdated"; detail: string };
