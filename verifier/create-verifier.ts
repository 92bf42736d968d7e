import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
} from "jose";
import {
  ACCESS_TOKEN_TYP,
  type AccessTokenClaims,
  type ApprovalClaim,
  actorChain,
  parseAccessTokenClaims,
} from "../schemas/access-token.ts";
import { readAuthorization } from "./bearer.ts";
import { checkDpopBinding, type DpopPresentation } from "./dpop.ts";
import { fromJoseError, WritVerifyError } from "./errors.ts";
import { createIntrospector } from "./introspection.ts";
import { type JwksFetch, type ResolvedOptions, requiredScopes, resolveOptions, type VerifierOptions } from "./options.ts";

/** Writ tokens are well under 2 KB; refusing huge ones up front bounds the work an attacker can make us do. */
const MAX_TOKEN_CHARS = 8192;
/** RFC 9068 §2.2 plus Writ's own: a token without these cannot say who may do what, or be told apart from another. */
const REQUIRED_CLAIMS = ["exp", "iat", "jti", "sub", "client_id", "scope"];

type GrantedUseCase = AccessTokenClaims["authorization_details"][0];

/**
 * What a verified token allows: which agent, for which use case, at which service, within which limits.
 * The service enforces `actions`, `locations` and `limits` itself (the broker cannot see the request).
 *
 * @example
 * const maxRows = grant.limits.max_rows; // e.g. 100 for crm.customers.read
 */
export type WritGrant = {
  /** The agent id (`sub`): for a delegated token, the agent acted for. */
  readonly agent: string;
  /**
   * Who is acting for `agent` (the `act` chain, RFC 8693 §4.1), nearest first: `["report-bot"]` when report-bot acts
   * for `agent`, `["b", "a"]` when b acts for a, which acts for `agent`. Empty for a token the agent got for itself.
   */
  readonly actors: readonly string[];
  readonly clientId: string;
  /** The use case id (`scope`). */
  readonly useCase: string;
  readonly audience: string;
  readonly actions: readonly string[];
  readonly locations: readonly string[];
  readonly limits: Readonly<GrantedUseCase["limits"]>;
  /** What the agent said it was about to do, when it said so. */
  readonly intent?: string;
  /** Who approved, when a human did. */
  readonly approval?: ApprovalClaim;
  readonly jti: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  /** Every claim, including ones newer than this library. */
  readonly claims: AccessTokenClaims;
};

/**
 * @example
 * await verifier.verify(token, { scope: ["crm.customers.read", "crm.customers.export"] });
 */
export type VerifyOptions = {
  /** The use case the route needs; with several, any one of them. Omit only where every use case for this audience may pass. */
  scope?: string | readonly string[];
  /**
   * The token came as `Authorization: DPoP` (RFC 9449): the request's `DPoP` header, method and full URL. Without
   * it the token is taken as a Bearer token, and a DPoP-bound one is refused. `verifyRequest` fills this in.
   */
  dpop?: { proof: string | null | undefined; method: string; url: string };
};

/**
 * @example
 * // Behind a proxy that rewrites the host, the URL the agent called (and signed its proof for):
 * await verifier.verifyRequest(request, { scope: "crm.customers.read", url: `https://crm.example.com${new URL(request.url).pathname}` });
 */
export type VerifyRequestOptions = Omit<VerifyOptions, "dpop"> & {
  /** The URL the agent called, when `request.url` is not it (a proxy, a mount point). Query and fragment are ignored. */
  url?: string;
};

/**
 * @example
 * const grant: WritGrant = await verifier.verify(token, { scope: "crm.customers.read" });
 */
export type Verifier = {
  readonly issuer: string;
  readonly audience: string;
  /** True when the verifier also asks the broker's `/introspect` (the `introspection` option). */
  readonly online: boolean;
  /** Resolves the grant of a valid token; rejects with a `WritVerifyError` for any token it does not accept. */
  verify(token: string, options?: VerifyOptions): Promise<WritGrant>;
  /**
   * Reads `Authorization: Bearer|DPoP` and the `DPoP` proof from the request, then verifies as `verify` does; a
   * DPoP-bound token must come with scheme DPoP and a valid proof for this request's method and URL.
   */
  verifyRequest(request: Request, options?: VerifyRequestOptions): Promise<WritGrant>;
  /** What the service accepts for DPoP, for challenges (`bearerRefusal`'s `dpop` option). */
  readonly dpop: { readonly required: boolean; readonly algorithms: readonly string[] };
};

/**
 * Verifies Writ access tokens offline, against the broker's published keys (RFC 9068 §4). Create one per process
 * (in a Worker, per isolate) and reuse it: the key set is cached in it and refetched when a token names an unknown
 * `kid`, which is how the broker's key rotation reaches services. Throws `TypeError` on bad options.
 *
 * By default the verifier is stateless: a revoked token, or one whose agent was disabled, passes until it expires
 * (minutes). A service that must honour revocation and the kill switch sooner passes `introspection`: every token
 * that passes the offline checks is then also checked at the broker's `/introspect` (RFC 7662), with the answer
 * reused for `cacheSeconds`, and refused when the broker says it is inactive or cannot be asked (fail closed).
 *
 * @example
 * const verifier = createVerifier({ issuer: "https://writ.example.com", audience: "https://crm.example.com" });
 * const grant = await verifier.verify(token, { scope: "crm.customers.read" });
 * grant.agent; // "support-bot"
 *
 * @example
 * // Online mode: the kill switch reaches this service within 5 s.
 * const online = createVerifier({
 *   issuer: "https://writ.example.com",
 *   audience: "https://crm.example.com",
 *   introspection: { credential: env.WRIT_SERVICE_SECRET, cacheSeconds: 5 },
 * });
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const resolved = resolveOptions(options);
  const getKey = keyResolver(resolved.keys);
  const { issuer, audience, algorithms, clockToleranceSeconds, maxTokenAgeSeconds, maxActors } = resolved;
  const introspect = resolved.introspection === undefined ? undefined : createIntrospector(resolved.introspection);

  // Built once: the same for every token, and jose reads it without keeping or changing it.
  const joseOptions: JWTVerifyOptions = Object.freeze({
    algorithms,
    issuer,
    audience,
    // RFC 9068 §4: refuses ID tokens, agent assertions and other JWTs the same keys might have signed.
    typ: ACCESS_TOKEN_TYP,
    clockTolerance: clockToleranceSeconds,
    requiredClaims: REQUIRED_CLAIMS,
    ...(maxTokenAgeSeconds === undefined ? {} : { maxTokenAge: maxTokenAgeSeconds }),
  });

  async function verify(token: string, verifyOptions: VerifyOptions = {}): Promise<WritGrant> {
    const scopes = verifyOptions.scope === undefined ? undefined : requiredScopes(verifyOptions.scope, "scope");
    if (typeof token !== "string" || token.length === 0) throw new WritVerifyError("ERR_WRIT_TOKEN_MISSING", "no token");
    if (token.length > MAX_TOKEN_CHARS)
      throw new WritVerifyError("ERR_WRIT_TOKEN_MALFORMED", `token longer than ${MAX_TOKEN_CHARS} characters`);

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, joseOptions));
    } catch (error) {
      throw fromJoseError(error);
    }
    checkIssuedAt(payload, clockToleranceSeconds);
    const grant = grantFrom(payload);
    if (grant.actors.length > maxActors)
      throw new WritVerifyError(
        "ERR_WRIT_DELEGATION_REFUSED",
        maxActors === 0 ? "delegated tokens are not accepted" : `${grant.actors.length} actors, at most ${maxActors} accepted`,
      );
    const { dpop } = verifyOptions;
    const presentation: DpopPresentation = dpop === undefined ? { scheme: "Bearer" } : { scheme: "DPoP", ...dpop };
    await checkDpopBinding(grant.claims, token, presentation, resolved.dpop, clockToleranceSeconds);
    if (scopes !== undefined && !scopes.includes(grant.useCase))
      throw new WritVerifyError(
        "ERR_WRIT_SCOPE_INSUFFICIENT",
        `token is for use case ${grant.useCase}, route needs ${scopes.join(" or ")}`,
      );
    // Only a token that passes every offline check is worth a round trip: forgeries never reach the broker.
    if (introspect !== undefined) await introspect({ token, jti: grant.jti, audience: grant.audience, expiresAt: grant.expiresAt });
    return grant;
  }

  async function verifyRequest(request: Request, requestOptions: VerifyRequestOptions = {}): Promise<WritGrant> {
    const { url, ...rest } = requestOptions;
    let scheme: "Bearer" | "DPoP" | undefined;
    try {
      const presented = readAuthorization(request.headers.get("authorization"));
      scheme = presented.scheme;
      const dpop = scheme === "DPoP" ? { proof: request.headers.get("dpop"), method: request.method, url: url ?? request.url } : undefined;
      return await verify(presented.token, dpop === undefined ? rest : { ...rest, dpop });
    } catch (error) {
      if (error instanceof WritVerifyError) error.scheme = scheme;
      throw error;
    }
  }

  const dpop = Object.freeze({ required: resolved.dpop.required, algorithms: resolved.dpop.algorithms });
  return Object.freeze({ issuer, audience, online: introspect !== undefined, verify, verifyRequest, dpop });
}

/**
 * `iat` (RFC 7519 §4.1.6) is the broker's own clock, so it never signs a token dated ahead: one that is was minted to
 * be used later (a stolen signing key stocking up), and an age limit measured from a made-up moment would let it live
 * longer. jose checks `iat` only under `maxTokenAge`; this refuses it either way. (jose has already refused a missing
 * or non-number `iat`.)
 */
function checkIssuedAt(payload: JWTPayload, clockToleranceSeconds: number): void {
  const nowSeconds = Math.floor(Date.now() / 1000);
  if (typeof payload.iat === "number" && payload.iat > nowSeconds + clockToleranceSeconds)
    throw new WritVerifyError("ERR_WRIT_NOT_YET_VALID", '"iat" claim is in the future, beyond the clock tolerance');
}

function keyResolver(keys: ResolvedOptions["keys"]): JWTVerifyGetKey {
  if (keys.kind === "local") return typeof keys.jwks === "function" ? keys.jwks : createLocalJWKSet(keys.jwks);
  return createRemoteJWKSet(keys.url, {
    [customFetch]: jwksFetch(keys.fetch ?? ((url, init) => fetch(url, init))),
    cacheMaxAge: keys.cacheMaxAgeMs,
    ...(keys.cooldownMs === undefined ? {} : { cooldownDuration: keys.cooldownMs }),
  });
}

/** A network failure is not a bad token: marking it here keeps it from reaching the caller as an unexplained error. */
function jwksFetch(fetchImpl: JwksFetch): JwksFetch {
  return async (url, init) => {
    try {
      return await fetchImpl(url, init);
    } catch (cause) {
      throw new WritVerifyError("ERR_WRIT_JWKS_UNAVAILABLE", "fetching the JWKS failed", { cause });
    }
  };
}

/** Past the signature: the claims must have Writ's shape and agree with each other. */
function grantFrom(payload: unknown): WritGrant {
  const parsed = parseAccessTokenClaims(payload);
  if (!parsed.success) {
    // Paths and zod's messages only: a zod dump could echo claim values into logs.
    const detail = parsed.error.issues.map((issue) => `${issue.path.join(".") || "claims"}: ${issue.message}`).join("; ");
    throw new WritVerifyError("ERR_WRIT_CLAIMS_INVALID", `claims do not match the access token schema: ${detail}`);
  }
  const claims = parsed.data;
  const [granted] = claims.authorization_details;
  // `scope` is what routes check and `authorization_details` what they enforce: a token where they differ is not Writ's.
  if (granted.use_case !== claims.scope)
    throw new WritVerifyError("ERR_WRIT_CLAIMS_INVALID", "authorization_details[0].use_case differs from scope");

  const grant: { -readonly [K in keyof WritGrant]: WritGrant[K] } = {
    agent: claims.sub,
    actors: Object.freeze(actorChain(claims.act)),
    clientId: claims.client_id,
    useCase: claims.scope,
    audience: claims.aud,
    actions: Object.freeze([...granted.actions]),
    locations: Object.freeze([...granted.locations]),
    limits: Object.freeze({ ...granted.limits }),
    jti: claims.jti,
    issuedAt: new Date(claims.iat * 1000),
    expiresAt: new Date(claims.exp * 1000),
    claims,
  };
  if (claims.intent !== undefined) grant.intent = claims.intent;
  if (claims.approval !== undefined) grant.approval = claims.approval;
  return Object.freeze(grant);
}
