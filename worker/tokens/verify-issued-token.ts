import { createLocalJWKSet, jwtVerify } from "jose";
import { ACCESS_TOKEN_TYP, type AccessTokenClaims, AccessTokenClaimsSchema } from "../../schemas/access-token.ts";
import type { ActiveKeys } from "./signing-keys.ts";

/**
 * Checks a token this broker issued (for /introspect, /revoke and /usage): its signature against the keys
 * the broker publishes, `typ`, `iss` and expiry. Undefined for anything else, whatever the reason: the
 * callers answer "inactive" (RFC 7662 §2.2) rather than explain.
 */
export async function verifyIssuedToken(
  token: string,
  keys: ActiveKeys,
  issuer: string,
  now: Date,
  /** 0 for "is it active now" (RFC 7662: an expired token is inactive); usage may be reported after expiry. */
  acceptExpiredForSeconds = 0,
): Promise<AccessTokenClaims | undefined> {
  if (token.length > 8192) return undefined;
  try {
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: keys.publicKeys }), {
      issuer,
      typ: ACCESS_TOKEN_TYP,
      algorithms: ["ES256", "EdDSA"],
      currentDate: now,
      clockTolerance: acceptExpiredForSeconds,
    });
    const claims = AccessTokenClaimsSchema.safeParse(payload);
    return claims.success ? claims.data : undefined;
  } catch {
    return undefined;
  }
}
