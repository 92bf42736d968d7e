import type { DelegationRule, NarrowingRule } from "../../../core/refusals/token.ts";
import type { TokenReason } from "../../../core/refusals.ts";
import { accessDenied, invalidRequest, invalidScope, type WireMap } from "./wire-map.ts";

const DELEGATION_RULE_TEXT: Record<DelegationRule, string> = {
  forbidden: "this use case does not allow delegation",
  actor: "this agent may not act for the subject_token's agent",
  depth: "the actor chain would be longer than the use case allows",
};

/** The error a widening would get if the agent asked for it directly (RFC 9396 §5, RFC 8707 §2, RFC 6749 §5.2). */
const NARROWING_ERROR: Record<NarrowingRule, string> = {
  use_case: "invalid_scope",
  audience: "invalid_target",
  action: "invalid_authorization_details",
  location: "invalid_authorization_details",
  limit: "invalid_authorization_details",
};

/**
 * Client authentication failures stay one generic `invalid_client`: telling an attacker whether the agent,
 * the key or the signature was wrong helps them. Policy refusals, by contrast, name the rule so that an
 * honest agent can fix its request.
 */
export const TOKEN_WIRE: WireMap<TokenReason> = {
  body_too_large: (reason) => ({
    status: 413,
    error: "invalid_request",
    error_description: `request body exceeds ${reason.limitBytes} bytes`,
  }),
  unsupported_content_type: () => invalidRequest("Content-Type must be application/x-www-form-urlencoded"),
  malformed_body: () => invalidRequest("request body is not valid form encoding"),
  duplicate_parameter: (reason) => invalidRequest(`parameter "${reason.parameter}" must not be repeated`),
  invalid_parameter: (reason) => invalidRequest(`parameter "${reason.parameter}" ${reason.detail}`),
  missing_parameter: (reason) => invalidRequest(`parameter "${reason.parameter}" is required`),
  unsupported_grant_type: () => ({ status: 400, error: "unsupported_grant_type", error_description: "grant_type is not supported" }),
  unsupported_token_type: (reason) => invalidRequest(`${reason.parameter} is not supported`),
  delegation_not_supported: () => invalidRequest("actor_token (delegation) is not supported"),
  // The actor authenticated, so naming the rule that failed tells it nothing about anyone else's secrets.
  delegation_not_allowed: (reason) => accessDenied(`delegation: ${DELEGATION_RULE_TEXT[reason.rule]} (use case "${reason.useCase}")`),
  delegation_widened: (reason) => ({
    status: 400,
    error: NARROWING_ERROR[reason.rule],
    error_description: `delegation may only narrow: ${reason.detail} is not granted by the subject_token`,
  }),
  delegation_required: (reason) =>
    accessDenied(`use case "${reason.useCase}" is issued only to an agent acting for another (delegation required)`),
  // RFC 6749 §5.2: a client that tried the Authorization header gets a challenge for its own scheme.
  client_auth_method_unsupported: (reason) => ({
    status: 401,
    error: "invalid_client",
    error_description: "client authentication failed: use private_key_jwt (RFC 7523)",
    headers: { "WWW-Authenticate": `${reason.scheme} realm="writ"` },
  }),
  client_authentication_missing: () => ({ status: 401, error: "invalid_client", error_description: "client authentication failed" }),
  client_assertion_type_unsupported: () => ({ status: 401, error: "invalid_client", error_description: "client authentication failed" }),
  client_assertion_invalid: () => ({ status: 401, error: "invalid_client", error_description: "client authentication failed" }),
  subject_token_invalid: () => ({ status: 400, error: "invalid_grant", error_description: "subject_token is invalid" }),
  subject_client_mismatch: () => ({
    status: 400,
    error: "invalid_grant",
    error_description: "subject_token and client authentication name different agents",
  }),
  actor_token_invalid: () => ({ status: 400, error: "invalid_grant", error_description: "actor_token is invalid" }),
  actor_client_mismatch: () => ({
    status: 400,
    error: "invalid_grant",
    error_description: "actor_token and client authentication name different agents",
  }),
  // Not the agent's fault and not a bad token: a clear, retryable answer (docs/workload-identity.md).
  issuer_unreachable: () => ({
    status: 503,
    error: "temporarily_unavailable",
    error_description: "the subject_token's issuer could not be reached to verify it; try again later",
    headers: { "Retry-After": "5" },
  }),
  invalid_authorization_details: (reason) => ({ status: 400, error: "invalid_authorization_details", error_description: reason.detail }),
  no_use_case: () => invalidScope("name exactly one use case, as scope or as one agent_use_case entry of authorization_details"),
  several_use_cases: () => invalidScope("a token covers exactly one use case"),
  scope_mismatch: () => invalidScope("scope and authorization_details name different use cases"),
  unknown_use_case: (reason) => invalidScope(`unknown use case "${reason.useCase}"`),
  use_case_not_allowed: (reason) => invalidScope(`use case "${reason.useCase}" is not allowed for this agent`),
  invalid_target: (reason) => ({ status: 400, error: "invalid_target", error_description: reason.detail }),
  audience_not_allowed: (reason) => ({
    status: 400,
    error: "invalid_target",
    error_description: `service "${reason.audience}" is not allowed for this use case`,
  }),
  action_not_allowed: (reason) => ({
    status: 400,
    error: "invalid_authorization_details",
    error_description: `action "${reason.action}" is not allowed for this use case`,
  }),
  location_not_allowed: (reason) => ({
    status: 400,
    error: "invalid_authorization_details",
    error_description: `location "${reason.location}" is not allowed for this use case`,
  }),
  agent_disabled: () => accessDenied("agent is disabled"),
  outside_time_window: () => accessDenied("condition time_windows: outside the allowed time window (UTC)"),
  context_missing: (reason) => accessDenied(`condition context.${reason.key}: required context is missing`),
  context_mismatch: (reason) => accessDenied(`condition context.${reason.key}: value does not match the required pattern`),
  intent_required: () => accessDenied("condition intent: this use case requires a stated intent"),
  budget_exhausted: (reason) => ({
    status: 429,
    error: "rate_limited",
    error_description: `budget exhausted: ${reason.budget}`,
    headers: { "Retry-After": String(reason.retryAfterSeconds) },
  }),
  // RFC 9449 §5: 400 invalid_dpop_proof. The proof is the agent's own making, so saying which check failed helps
  // its developer and tells an attacker nothing about anyone else's secrets.
  invalid_dpop_proof: (reason) => ({ status: 400, error: "invalid_dpop_proof", error_description: dpopProblem(reason.failure) }),
  // A missing header is a malformed request (RFC 6749 §5.2 invalid_request), not a bad proof: there is none.
  dpop_required: (reason) => invalidRequest(`use case "${reason.useCase}" requires a DPoP proof (RFC 9449): send a DPoP header`),
};

function dpopProblem(failure: Extract<TokenReason, { code: "invalid_dpop_proof" }>["failure"]): string {
  switch (failure) {
    case "several_headers":
      return "send exactly one DPoP header";
    case "replayed":
      return "DPoP proof already used: make a new proof (new jti) for each request";
    case "method_mismatch":
      return "DPoP proof htm must be POST";
    case "url_mismatch":
      return "DPoP proof htu must be the token endpoint URL";
    case "stale":
    case "issued_in_future":
      return "DPoP proof iat is not current: make a new proof for each request";
    case "jwk_private":
      return "DPoP proof jwk header must hold the public key only";
    case "algorithm_not_allowed":
      return "DPoP proof alg is not supported (see dpop_signing_alg_values_supported)";
    default:
      return "DPoP proof is invalid";
  }
}
