import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";
import type { MappingRule, TrustedIssuer } from "../../schemas/trusted-issuer.ts";
import type { IdentityFailure } from "../refusals.ts";
import { ASSERTION_CLOCK_TOLERANCE_SECONDS } from "./agent-assertion.ts";

/**
 * Federated workload identity (docs/workload-identity.md): a JWT from an issuer the policy trusts (GitHub Actions,
 * Kubernetes, SPIFFE, any OIDC workload platform) is verified against that issuer's keys and its claims mapped, by
 * the policy's rules, to one agent id. Pure apart from the key lookup, which the caller passes in (the worker's
 * remote JWKS cache, or the policy's inline keys).
 */

/** One claim a rule pins: where it is in the payload (nested for Kubernetes) and the exact string it must be. */
type ClaimCheck = { path: readonly string[]; value: string };
type CompiledRule = { agentId: string; index: number; checks: readonly ClaimCheck[] };

export type CompiledIssuer = {
  issuer: string;
  audiences: readonly string[];
  algorithms: readonly string[];
  maxTokenAgeSeconds: number;
  singleUse: boolean;
  /** Where the keys come from: the policy itself, or a URL the worker fetches (and caches). */
  keys: { kind: "inline"; getKey: JWTVerifyGetKey } | { kind: "remote"; jwksUri: string };
  rules: readonly CompiledRule[];
};

/** Trusted issuers by their exact `iss`. */
export type Federation = ReadonlyMap<string, CompiledIssuer>;

export type FederatedIdentity = {
  agentId: string;
  /** The workload's identity as its platform states it, for the token and the audit trail. */
  issuer: string;
  subject: string;
  /** Which of the issuer's rules matched (its index in `rules`). */
  rule: number;
  /** Present when the issuer is `single_use`: the proof to burn, namespaced by issuer so it never meets an agent's own jti. */
  proof?: { jti: string; expiresAt: number };
};

export type FederationResult = { ok: true; value: FederatedIdentity } | { ok: false; failure: IdentityFailure; detail?: string };

/** Thrown by a key lookup that could not reach the issuer: not a bad token, so it is answered differently. */
export class IssuerUnreachableError extends Error {
  override readonly name = "IssuerUnreachableError";
}

const MAX_JTI_CHARS = 256;

/** The policy's trusted issuers, compiled once per policy (inline key sets are imported lazily, on first use). */
export function compileFederation(issuers: readonly TrustedIssuer[]): Federation {
  return new Map(
    issuers.map((trusted): [string, CompiledIssuer] => [
      trusted.issuer,
      {
        issuer: trusted.issuer,
        audiences: trusted.audience,
        algorithms: trusted.algorithms,
        maxTokenAgeSeconds: trusted.max_token_age_seconds,
        singleUse: trusted.replay === "single_use",
        keys:
          trusted.jwks !== undefined
            ? { kind: "inline", getKey: createLocalJWKSet(trusted.jwks as JSONWebKeySet) }
            : { kind: "remote", jwksUri: trusted.jwks_uri as string },
        rules: trusted.rules.map((rule, index) => ({ agentId: rule.agent, index, checks: claimChecks(rule) })),
      },
    ]),
  );
}

/** What each kind of rule pins, as exact claim checks; every one must hold. */
export function claimChecks(rule: MappingRule): ClaimCheck[] {
  if (rule.github !== undefined)
    return Object.entries(rule.github).flatMap(([claim, value]) => (value === undefined ? [] : [{ path: [claim], value }]));
  if (rule.kubernetes !== undefined) {
    const { namespace, service_account } = rule.kubernetes;
    return [
      { path: ["kubernetes.io", "namespace"], value: namespace },
      { path: ["kubernetes.io", "serviceaccount", "name"], value: service_account },
      // The TokenRequest API always states both; a token whose sub disagrees with its own claims is not one of them.
      { path: ["sub"], value: `system:serviceaccount:${namespace}:${service_account}` },
    ];
  }
  if (rule.spiffe_id !== undefined) return [{ path: ["sub"], value: rule.spiffe_id }];
  if (rule.claims !== undefined) return Object.entries(rule.claims).map(([claim, value]) => ({ path: [claim], value }));
  throw new TypeError("claimChecks: a rule without a matcher passed the schema");
}

/**
 * The trusted issuer a subject token claims to come from, read WITHOUT verifying anything (the signature is checked
 * against that issuer's keys next). undefined when the token names no trusted issuer.
 */
export function claimedTrustedIssuer(jwt: string, federation: Federation): CompiledIssuer | undefined {
  if (federation.size === 0) return undefined;
  try {
    const { iss } = decodeJwt(jwt);
    return typeof iss === "string" ? federation.get(iss) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether an unverified `iss` looks like a workload issuer (a URL) rather than an agent id: a token from an issuer
 * the policy does not trust is then refused as `untrusted_issuer`, not as an unknown agent.
 */
export function looksLikeIssuerUrl(jwt: string): string | undefined {
  try {
    const { iss } = decodeJwt(jwt);
    return typeof iss === "string" && /^[a-z][a-z0-9+.-]*:\/\//i.test(iss) ? iss : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies a workload token from `trusted` (signature, `iss`, `aud`, `exp`/`nbf`, an `iat` no older than the issuer's
 * maximum age) and maps its claims to an agent. `getKey` is the issuer's key lookup; it throws
 * `IssuerUnreachableError` when the keys could not be fetched.
 */
export async function verifyWorkloadToken(
  jwt: string,
  trusted: CompiledIssuer,
  getKey: JWTVerifyGetKey,
  now: Date,
): Promise<FederationResult> {
  let alg: unknown;
  try {
    ({ alg } = decodeProtectedHeader(jwt));
  } catch {
    return refuse("malformed");
  }
  // Before any key is looked up: `none`, HMAC and every algorithm the issuer does not use stop here.
  if (typeof alg !== "string" || !trusted.algorithms.includes(alg)) return refuse("algorithm_not_allowed", `alg ${String(alg)}`);

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(jwt, getKey, {
      algorithms: [...trusted.algorithms],
      issuer: trusted.issuer,
      audience: [...trusted.audiences],
      currentDate: now,
      clockTolerance: ASSERTION_CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["exp", "iat", "sub"],
    }));
  } catch (error) {
    return refuse(...classify(error));
  }

  const nowSeconds = Math.floor(now.getTime() / 1000);
  const iat = payload.iat as number;
  if (iat > nowSeconds + ASSERTION_CLOCK_TOLERANCE_SECONDS) return refuse("issued_in_future");
  // A platform may mint long-lived tokens (Kubernetes allows days); the policy decides how old one may still be used.
  if (nowSeconds - iat > trusted.maxTokenAgeSeconds + ASSERTION_CLOCK_TOLERANCE_SECONDS)
    return refuse("token_too_old", `${nowSeconds - iat}s > ${trusted.maxTokenAgeSeconds}s`);

  const subject = payload.sub as string;
  const rule = trusted.rules.find((candidate) => candidate.checks.every((check) => claimAt(payload, check.path) === check.value));
  if (rule === undefined) return refuse("no_matching_rule", `sub ${subject.slice(0, 200)}`);

  const identity: FederatedIdentity = { agentId: rule.agentId, issuer: trusted.issuer, subject, rule: rule.index };
  if (trusted.singleUse) {
    const { jti } = payload;
    if (typeof jti !== "string" || jti.length === 0 || jti.length > MAX_JTI_CHARS) return refuse("missing_claim", "jti");
    identity.proof = { jti: `${trusted.issuer}#${jti}`, expiresAt: (payload.exp as number) + ASSERTION_CLOCK_TOLERANCE_SECONDS };
  }
  return { ok: true, value: identity };
}

/** A string claim at `path`, or undefined: a number or object never equals a pinned string. */
function claimAt(payload: JWTPayload, path: readonly string[]): string | undefined {
  let value: unknown = payload;
  for (const key of path) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === "string" ? value : undefined;
}

function refuse(failure: IdentityFailure, detail?: string): FederationResult {
  return detail === undefined ? { ok: false, failure } : { ok: false, failure, detail };
}

function classify(error: unknown): [IdentityFailure, string?] {
  if (error instanceof IssuerUnreachableError) return ["issuer_unreachable", error.message];
  if (error instanceof errors.JWTExpired) return ["expired"];
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === "missing") return ["missing_claim", error.claim];
    if (error.claim === "aud") return ["wrong_audience"];
    if (error.claim === "nbf") return ["not_yet_valid"];
    if (error.claim === "iat") return ["issued_in_future"];
    if (error.claim === "iss") return ["issuer_subject_mismatch"];
    return ["missing_claim", error.claim];
  }
  if (error instanceof errors.JWKSNoMatchingKey) return ["unknown_key"];
  if (error instanceof errors.JWKSMultipleMatchingKeys) return ["unknown_key", "several keys match and none is named"];
  if (error instanceof errors.JWSSignatureVerificationFailed) return ["bad_signature"];
  if (error instanceof errors.JOSEAlgNotAllowed) return ["algorithm_not_allowed"];
  if (error instanceof errors.JOSEError) return ["malformed", error.code];
  // Anything else is a bug in Writ, not bad input: let it surface as a 500.
  throw error;
}
