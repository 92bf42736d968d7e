import { createRemoteJWKSet, customFetch, errors, type JWTVerifyGetKey } from "jose";
import { IssuerUnreachableError } from "../../core/identity/federation.ts";

/**
 * A trusted workload issuer's published keys (its `jwks_uri`), fetched and cached per isolate by jose's remote key
 * set, which does what an issuer's keys need: a deadline on every fetch, a cache with a bounded lifetime, a refetch
 * when a token names a `kid` the cache does not know (key rotation), but at most once per cooldown, so tokens with
 * made-up kids cannot turn the broker into a fetch amplifier against the issuer. Redirects are not followed.
 *
 * An unreachable issuer (refused connection, timeout, non-200, not a key set) throws `IssuerUnreachableError` within
 * the timeout, and fails fast for `FAILURE_BACKOFF_MS` afterwards, so a dead issuer costs each request nothing.
 */

/** The issuer answers within this or is treated as unreachable: a token request must never hang on someone else. */
export const JWKS_TIMEOUT_MS = 3000;
/** Keys are trusted this long before a refetch: an issuer's pulled key stops verifying within ten minutes. */
export const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
/** At most one refetch for unknown kids per cooldown (jose measures it from the last successful fetch). */
export const JWKS_COOLDOWN_MS = 30_000;
/** After a failed fetch, requests fail at once for this long instead of each waiting for the timeout again. */
export const FAILURE_BACKOFF_MS = 5000;

export type JwksFetch = (url: string, init: RequestInit) => Promise<Response>;
export type RemoteJwksOptions = { fetch?: JwksFetch; timeoutMs?: number; cacheMaxAgeMs?: number; cooldownMs?: number; backoffMs?: number };

type Entry = { getKey: JWTVerifyGetKey; failedAt?: number; failure?: string };
// Per isolate: every request of the isolate shares one key set (and one cooldown) per URL.
const keySets = new Map<string, Entry>();

/**
 * The key lookup for `jwksUri`, shared by every request of this isolate (the options of the first call win).
 *
 * @example
 * const { payload } = await jwtVerify(token, remoteJwks("https://token.actions.githubusercontent.com/.well-known/jwks"));
 */
export function remoteJwks(jwksUri: string, options: RemoteJwksOptions = {}): JWTVerifyGetKey {
  let entry = keySets.get(jwksUri);
  if (entry === undefined) {
    const fetchImpl = options.fetch ?? ((url: string, init: RequestInit) => fetch(url, init));
    entry = {
      getKey: createRemoteJWKSet(new URL(jwksUri), {
        timeoutDuration: options.timeoutMs ?? JWKS_TIMEOUT_MS,
        cacheMaxAge: options.cacheMaxAgeMs ?? JWKS_CACHE_MAX_AGE_MS,
        cooldownDuration: options.cooldownMs ?? JWKS_COOLDOWN_MS,
        [customFetch]: fetchImpl,
      }),
    };
    keySets.set(jwksUri, entry);
  }
  const known = entry;
  const backoffMs = options.backoffMs ?? FAILURE_BACKOFF_MS;
  return async (header, token) => {
    if (known.failedAt !== undefined && Date.now() < known.failedAt + backoffMs)
      throw new IssuerUnreachableError(`${jwksUri}: ${known.failure} (not retried for ${backoffMs} ms)`);
    try {
      const key = await known.getKey(header, token);
      known.failedAt = undefined;
      return key;
    } catch (error) {
      // An unknown kid after a successful fetch is the token's problem, not the issuer's.
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      known.failedAt = Date.now();
      known.failure = describe(error);
      throw new IssuerUnreachableError(`${jwksUri}: ${known.failure}`, { cause: error });
    }
  };
}

/** Forgets every cached key set (tests). */
export function clearRemoteJwks(): void {
  keySets.clear();
}

function describe(error: unknown): string {
  if (error instanceof errors.JWKSTimeout) return "timed out";
  if (error instanceof errors.JWKSInvalid) return "not a JSON Web Key Set";
  if (error instanceof Error) return error.message.slice(0, 200);
  return "fetch failed";
}
