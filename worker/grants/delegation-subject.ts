import { createLocalJWKSet, errors, jwtVerify } from "jose";
import type { IdentityFailure } from "../../core/refusals/token.ts";
import { fail, ok, type Result } from "../../core/refusals.ts";
import { ACCESS_TOKEN_TYP, type AccessTokenClaims, AccessTokenClaimsSchema } from "../../schemas/access-token.ts";
import type { ActiveKeys } from "../tokens/signing-keys.ts";

/**
 * The subject_token of a delegation (docs/delegation.md): an access token THIS broker issued, checked as a service
 * checks one (RFC 9068 §4): signed by one of the broker's published keys, `typ` at+jwt (so an agent assertion or
 * an ID token is not one), `iss` this broker, not expired (no clock tolerance: the child may not outlive it), with
 * Writ's claims. Whether it was revoked, or its agent switched off, is for the subject's ledger to say, in the same
 * transaction that charges the new token. A DPoP-bound token (`cnf.jkt`) is refused: only the holder of its key may
 * use it, and the actor is not that holder.
 */
export async function verifySubjectToken(token: string, keys: ActiveKeys, issuer: string, now: Date): Promise<Result<AccessTokenClaims>> {
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, createLocalJWKSet({ keys: keys.publicKeys }), {
      issuer,
      typ: ACCESS_TOKEN_TYP,
      algorithms: ["ES256", "EdDSA"],
      currentDate: now,
      requiredClaims: ["exp", "iat", "jti", "sub"],
    }));
  } catch (error) {
    return fail({ code: "subject_token_invalid", failure: failureOf(error) });
  }
  const claims = AccessTokenClaimsSchema.safeParse(payload);
  if (!claims.success) return fail({ code: "subject_token_invalid", failure: "malformed", detail: "not a Writ access token" });
  if (claims.data.scope !== claims.data.authorization_details[0].use_case)
    return fail({ code: "subject_token_invalid", failure: "malformed", detail: "scope and authorization_details differ" });
  if (claims.data.cnf !== undefined) return fail({ code: "subject_token_invalid", failure: "sender_constrained" });
  return ok(claims.data);
}

/** Which check failed, for the log and the audit trail only: the wire always says "subject_token is invalid". */
function failureOf(error: unknown): IdentityFailure {
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
  if (error instanceof errors.JWKSNoMatchingKey) return "unknown_key";
  if (error instanceof errors.JOSEAlgNotAllowed) return "algorithm_not_allowed";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "iss") return "untrusted_issuer";
    if (error.claim === "nbf" || error.claim === "iat") return "not_yet_valid";
    if (error.claim === "typ") return "malformed";
    return "missing_claim";
  }
  return "malformed";
}
