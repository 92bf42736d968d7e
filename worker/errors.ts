/**
 * Every way a token request can fail, as data. `toWire` is the one place that turns a reason into
 * an RFC 6749 §5.2 response; the full reason (with its private detail) goes to the log.
 */

/** Why an identity proof (client assertion or subject token) was refused. Never shown on the wire. */
export type IdentityFailure =
  | "malformed"
  | "algorithm_not_allowed"
  | "issuer_subject_mismatch"
  | "client_id_mismatch"
  | "unknown_agent"
  | "unknown_key"
  | "key_type_mismatch"
  | "bad_signature"
  | "wrong_audience"
  | "expired"
  | "not_yet_valid"
  | "issued_in_future"
  | "lifetime_too_long"
  | "missing_claim"
  | "replayed";

export type Reason =
  | { code: "body_too_large"; limitBytes: number }
  | { code: "unsupported_content_type" }
  | { code: "malformed_body" }
  | { code: "duplicate_parameter"; parameter: string }
  | { code: "invalid_parameter"; parameter: string; detail: string }
  | { code: "missing_parameter"; parameter: string }
  | { code: "unsupported_grant_type"; grantType: string }
  | { code: "unsupported_token_type"; parameter: string; value: string }
  | { code: "delegation_not_supported" }
  | { code: "client_authentication_missing" }
  | { code: "client_auth_method_unsupported"; scheme: string }
  | { code: "client_assertion_type_unsupported" }
  | { code: "client_assertion_invalid"; failure: IdentityFailure; detail?: string }
  | { code: "subject_token_invalid"; failure: IdentityFailure; detail?: string }
  | { code: "subject_client_mismatch" }
  | { code: "invalid_authorization_details"; detail: string }
  | { code: "no_use_case" }
  | { code: "several_use_cases" }
  | { code: "scope_mismatch" }
  | { code: "unknown_use_case"; useCase: string }
  | { code: "use_case_not_allowed"; useCase: string }
  | { code: "invalid_target"; detail: string }
  | { code: "audience_not_allowed"; audience: string }
  | { code: "action_not_allowed"; action: string }
  | { code: "location_not_allowed"; location: string }
  | { code: "agent_disabled" }
  | { code: "outside_time_window" }
  | { code: "context_missing"; key: string }
  | { code: "context_mismatch"; key: string }
  | { code: "intent_required" }
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
  | { code: "budget_exhausted"; budget: string; retryAfterSeconds: number };

export type ReasonCode = Reason["code"];

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

export function assertNever(value: never): never {
  throw new TypeError(`unhandled case: ${JSON.stringify(value)}`);
}

/** The wire body and headers, with `Cache-Control: no-store` as RFC 6749 §5.1/§5.2 require for token responses. */
export function errorResponse(reason: Reason): Response {
  const wire = toWire(reason);
  return Response.json(
    { error: wire.error, error_description: wire.error_description },
    { status: wire.status, headers: { ...wire.headers, "Cache-Control": "no-store", Pragma: "no-cache" } },
  );
}

export type Result<T> = { ok: true; value: T } | { ok: false; reason: Reason };
export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(reason: Reason): Result<T> => ({ ok: false, reason });
