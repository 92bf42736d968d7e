import { assertNever, type Reason } from "../../core/refusals.ts";

export type WireError = {
  status: 400 | 401 | 403 | 413 | 429;
  error: string;
  error_description: string;
  headers?: Record<string, string>;
};

const invalidRequest = (description: string): WireError => ({ status: 400, error: "invalid_request", error_description: description });
const invalidScope = (description: string): WireError => ({ status: 400, error: "invalid_scope", error_description: description });
const accessDenied = (description: string): WireError => ({ status: 403, error: "access_denied", error_description: description });

/**
 * Client authentication failures stay one generic `invalid_client`: telling an attacker whether the agent,
 * the key or the signature was wrong helps them. Policy refusals, by contrast, name the rule so that an
 * honest agent can fix its request.
 */
export function toWire(reason: Reason): WireError {
  switch (reason.code) {
    case "body_too_large":
      return { status: 413, error: "invalid_request", error_description: `request body exceeds ${reason.limitBytes} bytes` };
    case "unsupported_content_type":
      return invalidRequest("Content-Type must be application/x-www-form-urlencoded");
    case "malformed_body":
      return invalidRequest("request body is not valid form encoding");
    case "duplicate_parameter":
      return invalidRequest(`parameter "${reason.parameter}" must not be repeated`);
    case "invalid_parameter":
      return invalidRequest(`parameter "${reason.parameter}" ${reason.detail}`);
    case "missing_parameter":
      return invalidRequest(`parameter "${reason.parameter}" is required`);
    case "unsupported_grant_type":
      return { status: 400, error: "unsupported_grant_type", error_description: "grant_type is not supported" };
    case "unsupported_token_type":
      return invalidRequest(`${reason.parameter} is not supported`);
    case "delegation_not_supported":
      return invalidRequest("actor_token (delegation) is not supported");
    case "client_auth_method_unsupported":
      // RFC 6749 §5.2: a client that tried the Authorization header gets a challenge for its own scheme.
      return {
        status: 401,
        error: "invalid_client",
        error_description: "client authentication failed: use private_key_jwt (RFC 7523)",
        headers: { "WWW-Authenticate": `${reason.scheme} realm="writ"` },
      };
    case "client_authentication_missing":
    case "client_assertion_type_unsupported":
    case "client_assertion_invalid":
      return { status: 401, error: "invalid_client", error_description: "client authentication failed" };
    case "subject_token_invalid":
      return { status: 400, error: "invalid_grant", error_description: "subject_token is invalid" };
    case "subject_client_mismatch":
      return { status: 400, error: "invalid_grant", error_description: "subject_token and client authentication name different agents" };
    case "invalid_authorization_details":
      return { status: 400, error: "invalid_authorization_details", error_description: reason.detail };
    case "no_use_case":
      return invalidScope("name exactly one use case, as scope or as one agent_use_case entry of authorization_details");
    case "several_use_cases":
      return invalidScope("a token covers exactly one use case");
    case "scope_mismatch":
      return invalidScope("scope and authorization_details name different use cases");
    case "unknown_use_case":
      return invalidScope(`unknown use case "${reason.useCase}"`);
    case "use_case_not_allowed":
      return invalidScope(`use case "${reason.useCase}" is not allowed for this agent`);
    case "invalid_target":
      return { status: 400, error: "invalid_target", error_description: reason.detail };
    case "audience_not_allowed":
      return { status: 400, error: "invalid_target", error_description: `service "${reason.audience}" is not allowed for this use case` };
    case "action_not_allowed":
      return {
        status: 400,
        error: "invalid_authorization_details",
        error_description: `action "${reason.action}" is not allowed for this use case`,
      };
    case "location_not_allowed":
      return {
        status: 400,
        error: "invalid_authorization_details",
        error_description: `location "${reason.location}" is not allowed for this use case`,
      };
    case "agent_disabled":
      return accessDenied("agent is disabled");
    case "outside_time_window":
      return accessDenied("condition time_windows: outside the allowed time window (UTC)");
    case "context_missing":
      return accessDenied(`condition context.${reason.key}: required context is missing`);
    case "context_mismatch":
      return accessDenied(`condition context.${reason.key}: value does not match the required pattern`);
    case "intent_required":
      return accessDenied("condition intent: this use case requires a stated intent");
    case "approval_required":
      return {
        status: 403,
        error: "approval_required",
        error_description: `use case "${reason.useCase}" needs human approval: start one at the backchannel authentication endpoint`,
      };
    case "approval_not_needed":
      return invalidRequest(`use case "${reason.useCase}" needs no approval: ask the token endpoint directly`);
    case "too_many_open_approvals":
      return {
        status: 429,
        error: "rate_limited",
        error_description: "too many open approval requests for this agent",
        headers: { "Retry-After": String(reason.retryAfterSeconds) },
      };
    case "auth_req_id_invalid":
      return { status: 400, error: "invalid_grant", error_description: "auth_req_id is invalid" };
    case "authorization_pending":
      return { status: 400, error: "authorization_pending", error_description: "the approvers have not decided yet" };
    case "slow_down":
      return { status: 400, error: "slow_down", error_description: "polling faster than the interval: add 5 seconds to it" };
    case "approval_denied":
      return accessDenied("an approver denied the request");
    case "approval_cancelled":
      return accessDenied("the request was cancelled");
    case "approval_expired":
      return { status: 400, error: "expired_token", error_description: "the approval request expired" };
    case "budget_exhausted":
      return {
        status: 429,
        error: "rate_limited",
        error_description: `budget exhausted: ${reason.budget}`,
        headers: { "Retry-After": String(reason.retryAfterSeconds) },
      };
    case "approval_collected":
      return { status: 400, error: "invalid_grant", error_description: "the token for this approval was already issued" };
    default:
      return assertNever(reason);
  }
}

/** The wire body and headers, with `Cache-Control: no-store` as RFC 6749 §5.1/§5.2 require for token responses. */
export function errorResponse(reason: Reason): Response {
  const wire = toWire(reason);
  return Response.json(
    { error: wire.error, error_description: wire.error_description },
    { status: wire.status, headers: { ...wire.headers, "Cache-Control": "no-store", Pragma: "no-cache" } },
  );
}
