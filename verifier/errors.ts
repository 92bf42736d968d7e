import { errors } from "jose";

/**
 * Every reason a request's Writ token is refused. Closed, so a service can `switch` over it exhaustively;
 * `bearerRefusal` turns each one into an RFC 6750 answer.
 *
 * @example
 * if (error instanceof WritVerifyError && error.code === "ERR_WRIT_EXPIRED") console.info("agent should fetch a new token");
 */
export type WritVerifyErrorCode =
  /** No `Authorization: Bearer` credentials at all (or another scheme). */
  | "ERR_WRIT_TOKEN_MISSING"
  /** An `Authorization` header that is not exactly one Bearer credential (RFC 6750 §2.1). */
  | "ERR_WRIT_AUTHORIZATION_MALFORMED"
  | "ERR_WRIT_TOKEN_MALFORMED"
  | "ERR_WRIT_ALG_NOT_ALLOWED"
  | "ERR_WRIT_SIGNATURE_INVALID"
  | "ERR_WRIT_KEY_UNKNOWN"
  | "ERR_WRIT_TYP_INVALID"
  | "ERR_WRIT_ISSUER_INVALID"
  | "ERR_WRIT_AUDIENCE_INVALID"
  | "ERR_WRIT_EXPIRED"
  | "ERR_WRIT_NOT_YET_VALID"
  | "ERR_WRIT_CLAIMS_INVALID"
  | "ERR_WRIT_SCOPE_INSUFFICIENT"
  /** The token is delegated (`act`) and the service refuses delegated tokens, or its chain is longer than `delegation.maxDepth`. */
  | "ERR_WRIT_DELEGATION_REFUSED"
  /**
   * The token carries `cnf.jkt` (RFC 9449) but came as a Bearer token, or without a proof through `verify()`:
   * accepting it would make a stolen token replayable. Also: the service requires DPoP (`dpop.required`) and the token is not bound.
   */
  | "ERR_WRIT_DPOP_REQUIRED"
  /** The `DPoP` proof is missing (scheme DPoP), repeated, or fails a check of RFC 9449 §4.3 (signature, htm, htu, iat, ath…). */
  | "ERR_WRIT_DPOP_PROOF_INVALID"
  /** The proof's `jti` was seen before within the proof window: a captured request replayed. */
  | "ERR_WRIT_DPOP_PROOF_REPLAYED"
  /** The proof is signed by another key than the token's `cnf.jkt`, or a token that is not bound came with scheme DPoP. */
  | "ERR_WRIT_DPOP_BINDING_MISMATCH"
  /** The `DpopReplayStore` could not answer (a Durable Object down): the proof is refused, not waved through. */
  | "ERR_WRIT_DPOP_REPLAY_UNAVAILABLE"
  | "ERR_WRIT_JWKS_UNAVAILABLE"
  /** Online mode only: the broker's `/introspect` says the token is no longer active (revoked, or its agent disabled). */
  | "ERR_WRIT_TOKEN_INACTIVE"
  /** Online mode only: `/introspect` gave no usable answer (down, slow, refused the credential); the token is refused, not waved through. */
  | "ERR_WRIT_INTROSPECTION_UNAVAILABLE";

/**
 * A refused token. `message` is detail for the service's own log and never contains the token;
 * what the caller sees on the wire comes from `bearerRefusal(error)`.
 *
 * @example
 * try {
 *   const grant = await verifier.verify(token, { scope: "crm.customers.read" });
 * } catch (error) {
 *   if (!(error instanceof WritVerifyError)) throw error;
 *   console.warn("token refused", error.code, error.message);
 * }
 */
export class WritVerifyError extends Error {
  override readonly name = "WritVerifyError";
  readonly code: WritVerifyErrorCode;
  /** The `Authorization` scheme the request used, when `verifyRequest` knows it: the challenge answering it uses the same one. */
  scheme: "Bearer" | "DPoP" | undefined;
  constructor(code: WritVerifyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * The one place where jose's verdicts become Writ codes. Anything that is neither a jose error nor already
 * ours is a bug (or a broken custom key resolver) and is rethrown, never dressed up as a bad token.
 */
export function fromJoseError(error: unknown): WritVerifyError {
  if (error instanceof WritVerifyError) return error;
  if (!(error instanceof errors.JOSEError)) throw error;
  // jose's messages name the failed check and never echo the token, so they are safe for logs.
  return new WritVerifyError(codeForJoseError(error), error.message, { cause: error });
}

function codeForJoseError(error: errors.JOSEError): WritVerifyErrorCode {
  // Typed as jose's own closed union, so a code jose adds shows up here as a compile error on upgrade.
  const code = error.code as errors.JOSEErrorCode;
  switch (code) {
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "ERR_WRIT_ALG_NOT_ALLOWED";
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "ERR_WRIT_SIGNATURE_INVALID";
    // Writ always names its key; without a `kid` several keys can match, and guessing among them is trial verification.
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return "ERR_WRIT_KEY_UNKNOWN";
    case "ERR_JWT_EXPIRED":
      return "ERR_WRIT_EXPIRED";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return codeForClaim(error as errors.JWTClaimValidationFailed);
    // NOT_SUPPORTED is reachable from the token itself (an unknown `crit` extension), so it is the token's fault.
    case "ERR_JOSE_NOT_SUPPORTED":
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
    case "ERR_JWE_INVALID":
    case "ERR_JWE_DECRYPTION_FAILED":
      return "ERR_WRIT_TOKEN_MALFORMED";
    // Only the key set can raise these: a failed or non-200 fetch (GENERIC), a timeout, unusable keys.
    case "ERR_JOSE_GENERIC":
    case "ERR_JWKS_TIMEOUT":
    case "ERR_JWKS_INVALID":
    case "ERR_JWK_INVALID":
      return "ERR_WRIT_JWKS_UNAVAILABLE";
    default: {
      const unmapped: never = code;
      throw new TypeError(`Writ verifier: unmapped jose error code ${String(unmapped)}`, { cause: error });
    }
  }
}

function codeForClaim({ claim, reason }: errors.JWTClaimValidationFailed): WritVerifyErrorCode {
  switch (claim) {
    case "typ":
      return "ERR_WRIT_TYP_INVALID";
    case "iss":
      return "ERR_WRIT_ISSUER_INVALID";
    case "aud":
      return "ERR_WRIT_AUDIENCE_INVALID";
    case "nbf":
      return "ERR_WRIT_NOT_YET_VALID";
    // Under `maxTokenAge` jose refuses a future `iat` itself (a too-old one is `ERR_JWT_EXPIRED`); a non-number is bad claims.
    case "iat":
      return reason === "check_failed" ? "ERR_WRIT_NOT_YET_VALID" : "ERR_WRIT_CLAIMS_INVALID";
    default:
      return "ERR_WRIT_CLAIMS_INVALID";
  }
}
