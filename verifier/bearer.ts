import { WritVerifyError } from "./errors.ts";

/** RFC 6750 §2.1: `credentials = "Bearer" 1*SP b64token`, b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". */
const BEARER_CREDENTIALS = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * The token from an `Authorization` header value, the only place a Writ token is read from: query strings end up
 * in logs and Referer headers (RFC 6750 §5.3). The scheme is case-insensitive (RFC 9110 §11.1).
 *
 * Throws `ERR_WRIT_TOKEN_MISSING` when there are no Bearer credentials (no header, or another scheme: RFC 6750 §3.1
 * answers those without an error code) and `ERR_WRIT_AUTHORIZATION_MALFORMED` when the header is not exactly one
 * Bearer credential, e.g. two `Authorization` headers, which fetch joins with a comma.
 *
 * @example
 * const token = readBearerToken(request.headers.get("authorization"));
 * const grant = await verifier.verify(token, { scope: "crm.customers.read" });
 */
export function readBearerToken(authorization: string | null | undefined): string {
  if (authorization === null || authorization === undefined || authorization.trim() === "")
    throw new WritVerifyError("ERR_WRIT_TOKEN_MISSING", "no Authorization header");
  if (authorization.includes(","))
    throw new WritVerifyError("ERR_WRIT_AUTHORIZATION_MALFORMED", "several credentials in Authorization (repeated header?)");
  // Not echoed: a client that forgot the scheme would otherwise have its token copied into the log.
  const scheme = authorization.split(" ", 1)[0] ?? "";
  if (scheme.toLowerCase() !== "bearer")
    throw new WritVerifyError("ERR_WRIT_TOKEN_MISSING", "Authorization does not use the Bearer scheme");
  const token = BEARER_CREDENTIALS.exec(authorization)?.[1];
  if (token === undefined) throw new WritVerifyError("ERR_WRIT_AUTHORIZATION_MALFORMED", "Authorization is not `Bearer <token>`");
  return token;
}

/** RFC 9449 §7.1: `DPoP` credentials have the same token68 syntax as Bearer ones. */
const DPOP_CREDENTIALS = /^DPoP +([A-Za-z0-9\-._~+/]+=*)$/i;

/** The credentials of a request: a Writ token and the scheme it came with. */
export type PresentedToken = { scheme: "Bearer" | "DPoP"; token: string };

/**
 * Like `readBearerToken`, but also accepts RFC 9449's `Authorization: DPoP <token>`, the scheme of a DPoP-bound token.
 * Throws the same codes (another scheme reads as no token).
 *
 * @example
 * const { scheme, token } = readAuthorization(request.headers.get("authorization"));
 */
export function readAuthorization(authorization: string | null | undefined): PresentedToken {
  const scheme = authorization?.trim().split(" ", 1)[0]?.toLowerCase();
  if (scheme !== "dpop" || authorization === null || authorization === undefined)
    return { scheme: "Bearer", token: readBearerToken(authorization) };
  if (authorization.includes(","))
    throw new WritVerifyError("ERR_WRIT_AUTHORIZATION_MALFORMED", "several credentials in Authorization (repeated header?)");
  const token = DPOP_CREDENTIALS.exec(authorization)?.[1];
  if (token === undefined) throw new WritVerifyError("ERR_WRIT_AUTHORIZATION_MALFORMED", "Authorization is not `DPoP <token>`");
  return { scheme: "DPoP", token };
}
