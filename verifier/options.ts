import type { JSONWebKeySet, JWTVerifyGetKey } from "jose";
import { DPOP_ALGORITHMS, DPOP_PROOF_MAX_AGE_SECONDS } from "../schemas/dpop.ts";
import { type DpopReplayStore, memoryDpopReplayStore } from "./dpop-replay-store.ts";

/**
 * Asymmetric JWS algorithms a verifier may be told to accept. `none` and the HMAC family are absent on purpose:
 * with a public JWKS, accepting HS256 lets anyone sign with the public key as the "secret" (algorithm confusion).
 */
export const VERIFIER_ALGORITHMS = [
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
  "PS256",
  "PS384",
  "PS512",
  "RS256",
  "RS384",
  "RS512",
] as const;
export type VerifierAlgorithm = (typeof VERIFIER_ALGORITHMS)[number];

/** What the Writ broker signs with: ES256, or Ed25519 under either name (RFC 8037 `EdDSA`, fully-specified `Ed25519`). */
export const DEFAULT_ALGORITHMS: readonly VerifierAlgorithm[] = ["ES256", "EdDSA", "Ed25519"];
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
/** Tokens live minutes; a leeway beyond five would let an expired token outlive its own TTL. */
export const MAX_CLOCK_TOLERANCE_SECONDS = 300;
/**
 * How long fetched keys are trusted before a refetch: the broker's JWKS `Cache-Control: max-age` (60 s), so a key
 * the broker stops publishing (a retired `previous` key, a leaked one pulled) stops verifying within a minute.
 * jose's own default (`createRemoteJWKSet` option `cacheMaxAge`, 600 000 ms) would keep trusting it for ten.
 */
export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = 60_000;

/** The fetch used for the JWKS. Plain `fetch`, a service binding's `fetch`, or a test double all fit. */
export type JwksFetch = (url: string, init: RequestInit) => Promise<Response>;
/** The fetch used for `/introspect`: the same shape as `JwksFetch`. */
export type IntrospectionFetch = JwksFetch;

/** Introspection answers are trusted this long by default: the kill switch then reaches the service within seconds. */
export const DEFAULT_INTROSPECTION_CACHE_SECONDS = 5;
/** A longer cache would turn "within seconds" into "within minutes": use the stateless mode then. */
export const MAX_INTROSPECTION_CACHE_SECONDS = 60;
export const DEFAULT_INTROSPECTION_TIMEOUT_MS = 5000;

/**
 * Online mode: after the offline checks, also ask the broker's RFC 7662 endpoint whether the token is still active,
 * so that revocation (`POST /revoke`) and the kill switch (`POST /admin/agents/<id>/disable`) reach the service
 * within `cacheSeconds`, not only when the token expires.
 *
 * @example
 * const introspection: IntrospectionOptions = { credential: env.WRIT_SERVICE_SECRET, cacheSeconds: 5 };
 */
export type IntrospectionOptions = {
  /**
   * This service's bearer secret at the broker (its `SERVICE_CREDENTIALS` entry). The broker answers `active: false`
   * for every token whose `aud` is not the credential's service, so it must belong to the verifier's `audience`.
   */
  credential: string;
  /** Default `${issuer}/introspect`. Must be https, except on loopback hosts for local development. */
  endpoint?: string;
  /** How long an answer is reused for the same token (`jti`), never past its `exp`. Default 5, at most 60; 0 asks every time. */
  cacheSeconds?: number;
  /** How long to wait for the endpoint before refusing the token as unverifiable. Default 5000. */
  timeoutMs?: number;
  /** Fetch for `/introspect`, e.g. a service binding's `fetch`. Default: the verifier's `fetch`, else the global `fetch`. */
  fetch?: IntrospectionFetch;
};

export type ResolvedIntrospection = {
  endpoint: URL;
  credential: string;
  cacheSeconds: number;
  timeoutMs: number;
  fetch: IntrospectionFetch;
};

/**
 * @example
 * const options: VerifierOptions = { issuer: "https://writ.example.com", audience: "https://crm.example.com" };
 */
export type VerifierOptions = {
  /** The broker's issuer URL, exactly as in its tokens' `iss` (no trailing slash). */
  issuer: string;
  /** This service's identifier, as the policy lists it in the use case's `audiences`. */
  audience: string;
  /** Default `${issuer}/.well-known/jwks.json`. Must be https, except on loopback hosts for local development. */
  jwksUri?: string;
  /** Keys held locally instead of fetched (tests, air-gapped services): a JWKS or a jose key resolver. */
  jwks?: JSONWebKeySet | JWTVerifyGetKey;
  /** Default ES256, EdDSA and Ed25519. Asymmetric algorithms only. */
  algorithms?: readonly VerifierAlgorithm[];
  /** Leeway for `exp`, `nbf` and `iat` against clock skew. Default 30, at most 300. */
  clockToleranceSeconds?: number;
  /**
   * Refuse tokens issued longer ago than this (jose `maxTokenAge`, measured from `iat`, within the leeway), whatever
   * their `exp`: a service that wants fresher tokens than the broker's TTL. A positive integer; default: no limit.
   */
  maxTokenAgeSeconds?: number;
  /** Fetch for the JWKS (and `/introspect`, unless `introspection.fetch` is given), e.g. a service binding's `fetch`. Default: the global `fetch`. */
  fetch?: JwksFetch;
  /**
   * How long fetched keys are trusted before a refetch (jose `cacheMaxAge`). Default 60 000, the broker's JWKS
   * max-age: a key removed from the JWKS stops verifying within it. (jose's own default is 10 minutes.)
   */
  cacheMaxAgeMs?: number;
  /** Minimum time between refetches that an unknown `kid` may trigger (jose `cooldownDuration`, default 30 s). */
  cooldownMs?: number;
  /**
   * Opt-in online mode (see `IntrospectionOptions`). Without it the verifier is stateless: a token stays valid
   * until it expires, whatever the broker learns later.
   */
  introspection?: IntrospectionOptions;
  /** DPoP (RFC 9449): tokens bound to a key (`cnf.jkt`) are always checked against a proof; this tunes how. */
  dpop?: DpopOptions;
  /** Delegated tokens (an `act` chain, docs/delegation.md): accepted by default, within the broker's policy. */
  delegation?: DelegationOptions;
};

/**
 * @example
 * const delegation: DelegationOptions = { maxDepth: 1 }; // an agent acting for another, but no agent acting for that one
 * const direct: DelegationOptions = { accept: false };   // only tokens an agent got for itself
 */
export type DelegationOptions = {
  /** false: refuse every token with an `act` claim. Default true. */
  accept?: boolean;
  /** Refuse chains with more actors than this (1: one agent acting for the subject). A positive integer; default: no limit here. */
  maxDepth?: number;
};

/**
 * @example
 * const dpop: DpopOptions = { required: true, replayStore: durableObjectDpopReplayStore(env.DPOP_REPLAY) };
 */
export type DpopOptions = {
  /** Refuse every token that is not DPoP-bound (a stolen bearer token is then useless here). Default false. */
  required?: boolean;
  /** Where accepted proofs' `jti`s are remembered. Default: `memoryDpopReplayStore()`, this process only. */
  replayStore?: DpopReplayStore;
  /** Proof signature algorithms accepted. Default: every one in `DPOP_ALGORITHMS`. */
  algorithms?: readonly string[];
};

export type ResolvedDpop = { required: boolean; replayStore: DpopReplayStore; algorithms: readonly string[]; maxAgeSeconds: number };

export type ResolvedOptions = {
  issuer: string;
  audience: string;
  algorithms: VerifierAlgorithm[];
  clockToleranceSeconds: number;
  maxTokenAgeSeconds: number | undefined;
  keys:
    | { kind: "local"; jwks: JSONWebKeySet | JWTVerifyGetKey }
    | { kind: "remote"; url: URL; fetch?: JwksFetch; cacheMaxAgeMs: number; cooldownMs?: number };
  introspection?: ResolvedIntrospection;
  dpop: ResolvedDpop;
  /** The most actors a token's chain may name: 0 refuses delegated tokens. */
  maxActors: number;
};

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);
/** RFC 6750 §2.1 b64token: what can follow `Bearer ` in a header (and no CR or LF that would split it). */
const BEARER_SECRET = /^[A-Za-z0-9\-._~+/]+=*$/;
/** RFC 6749 §3.3 scope-token: printable ASCII without space, `"` or `\`, so it can be quoted in WWW-Authenticate. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Checks a verifier's options once, at creation: a misconfigured service must fail at startup, not refuse every token. */
export function resolveOptions(options: VerifierOptions): ResolvedOptions {
  if (typeof options !== "object" || options === null) throw misuse("options must be an object");
  const issuer = checkIssuer(options.issuer);
  if (typeof options.audience !== "string" || options.audience.length === 0) throw misuse("audience must be a non-empty string");
  const resolved: ResolvedOptions = {
    issuer,
    audience: options.audience,
    algorithms: checkAlgorithms(options.algorithms),
    clockToleranceSeconds: checkClockTolerance(options.clockToleranceSeconds),
    maxTokenAgeSeconds: checkMaxTokenAge(options.maxTokenAgeSeconds),
    keys: checkKeySource(options, issuer),
    dpop: checkDpop(options.dpop),
    maxActors: checkDelegation(options.delegation),
  };
  if (options.introspection !== undefined) resolved.introspection = checkIntrospection(options.introspection, options.fetch, issuer);
  return resolved;
}

function checkDelegation(delegation: DelegationOptions | undefined): number {
  if (delegation === undefined) return Number.POSITIVE_INFINITY;
  if (typeof delegation !== "object" || delegation === null) throw misuse("delegation must be an object");
  const { accept = true, maxDepth } = delegation;
  if (typeof accept !== "boolean") throw misuse("delegation.accept must be a boolean");
  if (maxDepth !== undefined && (!Number.isInteger(maxDepth) || maxDepth < 1))
    throw misuse("delegation.maxDepth must be a positive integer (use accept: false to refuse delegated tokens)");
  if (!accept) return 0;
  return maxDepth ?? Number.POSITIVE_INFINITY;
}

/**
 * The use cases a route accepts, as a list. A route must name at least one: an empty list would accept none,
 * and silently treating it as "any" would widen every grant.
 */
export function requiredScopes(scope: string | readonly string[], label: string): readonly string[] {
  const scopes = typeof scope === "string" ? [scope] : scope;
  if (!Array.isArray(scopes) || scopes.length === 0) throw misuse(`${label} must be a use case id or a non-empty array of them`);
  for (const value of scopes)
    if (typeof value !== "string" || !SCOPE_TOKEN.test(value))
      throw misuse(`${label}: ${JSON.stringify(value)} is not a valid use case id`);
  return Object.freeze([...scopes]);
}

export function misuse(message: string): TypeError {
  return new TypeError(`Writ verifier: ${message}`);
}

function checkIssuer(issuer: unknown): string {
  if (typeof issuer !== "string") throw misuse("issuer must be the broker's issuer URL");
  const url = parseHttpUrl(issuer, "issuer");
  // Tokens carry the issuer verbatim: a trailing slash here would make every `iss` comparison fail.
  if (issuer.endsWith("/") || url.search !== "" || url.hash !== "")
    throw misuse("issuer must be a base URL without trailing slash, query or fragment (as in the tokens' iss)");
  return issuer;
}

function checkAlgorithms(algorithms: readonly string[] | undefined): VerifierAlgorithm[] {
  if (algorithms === undefined) return [...DEFAULT_ALGORITHMS];
  if (!Array.isArray(algorithms) || algorithms.length === 0) throw misuse("algorithms must be a non-empty array");
  for (const alg of algorithms)
    if (!(VERIFIER_ALGORITHMS as readonly string[]).includes(alg))
      throw misuse(`algorithm ${JSON.stringify(alg)} is not allowed: use asymmetric algorithms only (${VERIFIER_ALGORITHMS.join(", ")})`);
  return [...algorithms] as VerifierAlgorithm[];
}

function checkClockTolerance(seconds: number | undefined): number {
  if (seconds === undefined) return DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 0 || seconds > MAX_CLOCK_TOLERANCE_SECONDS)
    throw misuse(`clockToleranceSeconds must be an integer from 0 to ${MAX_CLOCK_TOLERANCE_SECONDS}`);
  return seconds;
}

function checkMaxTokenAge(seconds: number | undefined): number | undefined {
  if (seconds === undefined) return undefined;
  if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 1)
    throw misuse("maxTokenAgeSeconds must be a positive integer number of seconds");
  return seconds;
}

function checkKeySource(options: VerifierOptions, issuer: string): ResolvedOptions["keys"] {
  const { jwks, jwksUri, fetch, cacheMaxAgeMs, cooldownMs } = options;
  if (jwks !== undefined) {
    // These only tune fetching; accepting them beside local keys would hide a config that does not do what it says.
    for (const [name, value] of Object.entries({ jwksUri, fetch, cacheMaxAgeMs, cooldownMs }))
      if (value !== undefined) throw misuse(`${name} has no effect with local jwks: pass one or the other`);
    if (typeof jwks !== "function" && (typeof jwks !== "object" || jwks === null || !Array.isArray(jwks.keys)))
      throw misuse("jwks must be a JSON Web Key Set ({ keys: [...] }) or a jose key resolver");
    return { kind: "local", jwks };
  }
  const url = parseHttpUrl(jwksUri ?? `${issuer}/.well-known/jwks.json`, "jwksUri");
  // Keys fetched over plain HTTP can be swapped in transit, and then any token verifies.
  if (url.protocol !== "https:" && !LOOPBACK_HOSTS.has(url.hostname))
    throw misuse("jwksUri must use https (plain http is allowed only for localhost)");
  if (fetch !== undefined && typeof fetch !== "function") throw misuse("fetch must be a function");
  return {
    kind: "remote",
    url,
    fetch,
    cacheMaxAgeMs: checkDuration(cacheMaxAgeMs, "cacheMaxAgeMs", true) ?? DEFAULT_JWKS_CACHE_MAX_AGE_MS,
    cooldownMs: checkDuration(cooldownMs, "cooldownMs", false),
  };
}

function checkIntrospection(options: IntrospectionOptions, verifierFetch: JwksFetch | undefined, issuer: string): ResolvedIntrospection {
  if (typeof options !== "object" || options === null) throw misuse("introspection must be an object");
  const { credential, endpoint, cacheSeconds, timeoutMs, fetch } = options;
  // The credential itself never goes into a message: this one may end up in a startup log.
  if (typeof credential !== "string" || !BEARER_SECRET.test(credential))
    throw misuse("introspection.credential must be the service's bearer secret (a non-empty token without spaces)");
  const url = parseHttpUrl(endpoint ?? `${issuer}/introspect`, "introspection.endpoint");
  // The service's credential travels with every call: over plain HTTP anyone on the path could take it.
  if (url.protocol !== "https:" && !LOOPBACK_HOSTS.has(url.hostname))
    throw misuse("introspection.endpoint must use https (plain http is allowed only for localhost)");
  if (url.hash !== "") throw misuse("introspection.endpoint must not have a fragment");
  if (
    cacheSeconds !== undefined &&
    (typeof cacheSeconds !== "number" ||
      !Number.isInteger(cacheSeconds) ||
      cacheSeconds < 0 ||
      cacheSeconds > MAX_INTROSPECTION_CACHE_SECONDS)
  )
    throw misuse(`introspection.cacheSeconds must be an integer from 0 to ${MAX_INTROSPECTION_CACHE_SECONDS}`);
  if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0))
    throw misuse("introspection.timeoutMs must be a positive number of milliseconds");
  if (fetch !== undefined && typeof fetch !== "function") throw misuse("introspection.fetch must be a function");
  return {
    endpoint: url,
    credential,
    cacheSeconds: cacheSeconds ?? DEFAULT_INTROSPECTION_CACHE_SECONDS,
    timeoutMs: timeoutMs ?? DEFAULT_INTROSPECTION_TIMEOUT_MS,
    fetch: fetch ?? verifierFetch ?? ((input, init) => globalThis.fetch(input, init)),
  };
}

function checkDpop(options: DpopOptions | undefined): ResolvedDpop {
  if (options !== undefined && (typeof options !== "object" || options === null)) throw misuse("dpop must be an object");
  const { required, replayStore, algorithms } = options ?? {};
  if (required !== undefined && typeof required !== "boolean") throw misuse("dpop.required must be a boolean");
  if (replayStore !== undefined && (typeof replayStore !== "object" || replayStore === null || typeof replayStore.useOnce !== "function"))
    throw misuse("dpop.replayStore must have a useOnce(key, expiresAt) method");
  if (algorithms !== undefined) {
    if (!Array.isArray(algorithms) || algorithms.length === 0) throw misuse("dpop.algorithms must be a non-empty array");
    for (const alg of algorithms)
      if (!(DPOP_ALGORITHMS as readonly string[]).includes(alg))
        throw misuse(`dpop.algorithms: ${JSON.stringify(alg)} is not one of ${DPOP_ALGORITHMS.join(", ")}`);
  }
  return {
    required: required ?? false,
    replayStore: replayStore ?? memoryDpopReplayStore(),
    algorithms: Object.freeze([...(algorithms ?? DPOP_ALGORITHMS)]),
    maxAgeSeconds: DPOP_PROOF_MAX_AGE_SECONDS,
  };
}

function checkDuration(ms: number | undefined, name: string, infiniteAllowed: boolean): number | undefined {
  if (ms === undefined) return undefined;
  const finiteOrAllowed = Number.isFinite(ms) || (infiniteAllowed && ms === Number.POSITIVE_INFINITY);
  if (typeof ms !== "number" || !finiteOrAllowed || ms < 0) throw misuse(`${name} must be a non-negative number of milliseconds`);
  return ms;
}

function parseHttpUrl(value: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw misuse(`${name} must be an absolute URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw misuse(`${name} must be an http(s) URL`);
  return url;
}
