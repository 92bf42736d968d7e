import type { CibaReason } from "../../../core/refusals.ts";
import { accessDenied, invalidRequest, type WireMap } from "./wire-map.ts";

/** OpenID CIBA §7.3 and §11: the codes a CIBA client library already understands. */
export const CIBA_WIRE: WireMap<CibaReason> = {
  approval_required: (reason) => ({
    status: 403,
    error: "approval_required",
    error_description: `use case "${reason.useCase}" needs human approval: start one at the backchannel authentication endpoint`,
  }),
  approval_not_needed: (reason) => invalidRequest(`use case "${reason.useCase}" needs no approval: ask the token endpoint directly`),
  too_many_open_approvals: (reason) => ({
    status: 429,
    error: "rate_limited",
    error_description: "too many open approval requests for this agent",
    headers: { "Retry-After": String(reason.retryAfterSeconds) },
  }),
  auth_req_id_invalid: () => ({ status: 400, error: "invalid_grant", error_description: "auth_req_id is invalid" }),
  authorization_pending: () => ({ status: 400, error: "authorization_pending", error_description: "the approvers have not decided yet" }),
  slow_down: () => ({ status: 400, error: "slow_down", error_description: "polling faster than the interval: add 5 seconds to it" }),
  approval_denied: () => accessDenied("an approver denied the request"),
  approval_cancelled: () => accessDenied("the request was cancelled"),
  approval_expired: () => ({ status: 400, error: "expired_token", error_description: "the approval request expired" }),
  approval_collected: () => ({ status: 400, error: "invalid_grant", error_description: "the token for this approval was already issued" }),
  approval_outdated: (reason) => accessDenied(`the policy changed since the approval (${reason.detail}): ask for a new approval`),
};
