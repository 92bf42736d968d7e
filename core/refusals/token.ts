import type { DpopProofFailure } from "../../schemas/dpop.ts";

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
  | "replayed"
  /** Federated workload identity (docs/workload-identity.md): the token's `iss` is a URL no trusted issuer has. */
  | "untrusted_issuer"
  /** Signed by a trusted issuer, but no rule of the policy maps its claims to an agent. */
  | "no_matching_rule"
  /** Older (by `iat`) than the issuer's `max_token_age_seconds`. */
  | "token_too_old"
  /** The issuer's keys could not be fetched (answered as `issuer_unreachable`, never as a bad token). */
  | "issuer_unreachable"
  /** Delegation (docs/delegation.md): the Writ token presented as subject_token was revoked, or issued before its agent's kill switch. */
  | "revoked"
  /** Delegation: the subject token is DPoP-bound (RFC 9449): only its holder may use it, so it cannot be handed to an actor. */
  | "sender_constrained";

/** Which delegation rule a request broke (docs/delegation.md). */
export type DelegationRule = "forbidden" | "actor" | "depth";
/** What a delegated hop tried to widen: each must be the same as or narrower than the subject token's. */
export type NarrowingRule = "use_case" | "audience" | "action" | "location" | "limit";

/** Why a DPoP proof on POST /token was refused (RFC 9449 §4.3): the checks of `verifyDpopProof`, a second header, a replay. */
export type TokenDpopFailure = Exclude<DpopProofFailure, "ath_missing" | "ath_mismatch" | "key_mismatch"> | "several_headers" | "replayed";

/** Every way a token request (token exchange, client_credentials) can be refused, before or after the policy. */
export type TokenReason =
  | { code: "body_too_large"; limitBytes: number }
  | { code: "unsupported_content_type" }
  | { code: "malformed_body" }
  | { code: "duplicate_parameter"; parameter: string }
  | { code: "invalid_parameter"; parameter: string; detail: string }
  | { code: "missing_parameter"; parameter: string }
  | { code: "unsupported_grant_type"; grantType: string }
  | { code: "unsupported_token_type"; parameter: string; value: string }
  | { code: "delegation_not_supported" }
  /** The use case forbids delegation, the actor may not act for this subject, or the chain would be too deep. */
  | { code: "delegation_not_allowed"; useCase: string; rule: DelegationRule }
  /** A delegated hop asked for more than its subject token grants (`detail`: what, e.g. `action "write"`). */
  | { code: "delegation_widened"; rule: NarrowingRule; detail: string }
  /** The use case's tokens are issued only to an agent acting for another (`"mode": "required"`). */
  | { code: "delegation_required"; useCase: string }
  | { code: "client_authentication_missing" }
  | { code: "client_auth_method_unsupported"; scheme: string }
  | { code: "client_assertion_type_unsupported" }
  | { code: "client_assertion_invalid"; failure: IdentityFailure; detail?: string }
  | { code: "subject_token_invalid"; failure: IdentityFailure; detail?: string }
  | { code: "subject_client_mismatch" }
  /** Delegation: the actor_token (the acting agent's own proof) failed a check, or was used before. */
  | { code: "actor_token_invalid"; failure: IdentityFailure; detail?: string }
  | { code: "actor_client_mismatch" }
  /** A trusted workload issuer's JWKS could not be fetched in time: not the agent's fault, worth a retry. */
  | { code: "issuer_unreachable"; issuer: string; detail: string }
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
  | { code: "budget_exhausted"; budget: string; retryAfterSeconds: number }
  /** RFC 9449 §5: the `DPoP` header of a token request is repeated or its proof fails a check. */
  | { code: "invalid_dpop_proof"; failure: TokenDpopFailure; detail?: string }
  /** The use case says `"dpop": "required"` and the request carried no DPoP proof. */
  | { code: "dpop_required"; useCase: string };
