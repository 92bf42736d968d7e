import { decodeJwt, decodeProtectedHeader, errors, importJWK, type JWTPayload, jwtVerify } from "jose";
import { KEY_REPORT_TYP } from "../../schemas/key-report.ts";
import type { AgentPublicJwk } from "../../schemas/policy.ts";
import type { CompiledPolicy } from "../policy/compile-policy.ts";
import type { IdentityFailure } from "../refusals.ts";

/** RFC 7523 §3 leaves the cap to the server; the contract sets it at five minutes, which also bounds the replay store. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
export const ASSERTION_CLOCK_TOLERANCE_SECONDS = 30;

/**
 * Asymmetric algorithms only, so `none` and HMAC tricks (signing with the public key as a secret) cannot pass.
 * Ed25519 keys are accepted under both names: RFC 8037's `EdDSA` and the fully-specified `Ed25519`
 * (draft-ietf-jose-fully-specified-algorithms), which openid-client sends.
 */
const ALGORITHMS_BY_KEY = { EC: ["ES256"], OKP: ["EdDSA", "Ed25519"] } as const;
export const ASSERTION_ALGORITHMS: readonly string[] = [...ALGORITHMS_BY_KEY.EC, ...ALGORITHMS_BY_KEY.OKP];
const ALLOWED_ALGORITHMS = new Set(ASSERTION_ALGORITHMS);
const MAX_JTI_CHARS = 256;

/** `expiresAt` is the last second (epoch) at which this assertion could still be accepted, clock tolerance included: its jti must be remembered until then. */
export type VerifiedAssertion = { agentId: string; jti: string; expiresAt: number };
export type AssertionResult = { ok: true; value: VerifiedAssertion } | { ok: false; failure: IdentityFailure; detail?: string };

export type AssertionExpectations = {
  policy: CompiledPolicy;
  /**
   * This server's names as an assertion audience: its issuer identifier first, then what an audience array may list
   * beside it (the token endpoint URL). RFC 7523bis: an assertion must name the issuer, and nothing foreign.
   */
  audiences: readonly string[];
  /** When the client also sent client_id, the assertion must be about that client (RFC 7521 §4.2). */
  clientId?: string | undefined;
  now: Date;
};

// Imported keys are reused across requests in an isolate: importJWK costs more than a verify.
const keyCache = new Map<string, Promise<CryptoKey>>();

/** Verifies an agent's self-signed JWT (private_key_jwt, RFC 7523 §2.2) against the keys its policy entry registers. Does not check replay. */
export async function verifyAgentAssertion(jwt: string, expect: AssertionExpectations): Promise<AssertionResult> {
  let alg: string | undefined;
  let kid: string | undefined;
  let typ: unknown;
  let agentId: unknown;
  let subject: unknown;
  try {
    ({ alg, kid, typ } = decodeProtectedHeader(jwt));
    ({ iss: agentId, sub: subject } = decodeJwt(jwt));
  } catch {
    return refuse("malformed");
  }
  // RFC 8725 §3.11: a leaked-key report (POST /keys/report) is signed with the same key; its own typ keeps it from
  // ever passing as a client assertion or a subject token.
  if (typeof typ === "string" && typ.toLowerCase().replace(/^application\//, "") === KEY_REPORT_TYP)
    return refuse("malformed", `typ ${typ}`);
  if (alg === undefined || !ALLOWED_ALGORITHMS.has(alg)) return refuse("algorithm_not_allowed", `alg ${String(alg)}`);
  if (typeof agentId !== "string" || agentId !== subject) return refuse("issuer_subject_mismatch");
  if (expect.clientId !== undefined && expect.clientId !== agentId) return refuse("client_id_mismatch");

  const agent = expect.policy.agents.get(agentId);
  if (!agent) return refuse("unknown_agent", agentId);
  const jwk = selectKey(agent.keys, kid, alg);
  if (!jwk)
    return refuse(kid !== undefined && agent.keys.some((k) => k.kid === kid) ? "key_type_mismatch" : "unknown_key", `kid ${String(kid)}`);

  const [issuer] = expect.audiences;
  if (issuer === undefined) throw new TypeError("verifyAgentAssertion: audiences must name the issuer first");
  let payload: JWTPayload;
  try {
    const key = await importAgentKey(agentId, jwk, alg);
    ({ payload } = await jwtVerify(jwt, key, {
      algorithms: [alg],
      issuer: agentId,
      subject: agentId,
      // Audience injection (RFC 7523bis): a malicious authorization server can get a client to sign for Writ's token
      // endpoint URL, never for Writ's issuer identifier. So the issuer must be named: as the string, or in the array.
      audience: issuer,
      currentDate: expect.now,
      clockTolerance: ASSERTION_CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["exp", "jti"],
    }));
  } catch (error) {
    return refuse(...classify(error));
  }
  // jose found the issuer in the array; a foreign audience beside it means the assertion was also meant for someone else.
  if (Array.isArray(payload.aud) && !payload.aud.every((audience) => expect.audiences.includes(audience)))
    return refuse("wrong_audience", "foreign audience beside the issuer");
  const fresh = checkProofLifetime(payload, expect.now);
  if (!fresh.ok) return fresh;
  return { ok: true, value: { agentId, jti: fresh.jti, expiresAt: fresh.expiresAt } };
}

export type ProofLifetime =
  | { ok: true; jti: string; expiresAt: number }
  | { ok: false; failure: "missing_claim" | "issued_in_future" | "lifetime_too_long"; detail?: string };

/**
 * What jose leaves to us for a self-signed proof after its signature and `exp` check out (client assertions and
 * leaked-key reports alike): a usable `jti`, an `iat` not in the future, at most five minutes of life. `expiresAt`
 * is when the `jti` may be forgotten (epoch seconds, clock tolerance included).
 */
export function checkProofLifetime(payload: JWTPayload, now: Date): ProofLifetime {
  const { jti } = payload;
  const exp = payload.exp as number;
  if (typeof jti !== "string" || jti.length === 0 || jti.length > MAX_JTI_CHARS)
    return { ok: false, failure: "missing_claim", detail: "jti" };
  const nowSeconds = Math.floor(now.getTime() / 1000);
  // Without iat, measure from now: either way no proof may be good for more than five minutes.
  const issuedAt = typeof payload.iat === "number" ? payload.iat : nowSeconds;
  if (issuedAt > nowSeconds + ASSERTION_CLOCK_TOLERANCE_SECONDS) return { ok: false, failure: "issued_in_future" };
  if (exp - issuedAt > MAX_ASSERTION_LIFETIME_SECONDS) return { ok: false, failure: "lifetime_too_long", detail: `${exp - issuedAt}s` };
  return { ok: true, jti, expiresAt: exp + ASSERTION_CLOCK_TOLERANCE_SECONDS };
}

function refuse(failure: IdentityFailure, detail?: string): AssertionResult {
  return detail === undefined ? { ok: false, failure } : { ok: false, failure, detail };
}

function selectKey(keys: readonly AgentPublicJwk[], kid: string | undefined, alg: string): AgentPublicJwk | undefined {
  const fitting = keys.filter((k) => (ALGORITHMS_BY_KEY[k.kty] as readonly string[]).includes(alg));
  if (kid !== undefined) return fitting.find((k) => k.kid === kid);
  // Without a kid the choice must be unambiguous; guessing among several keys would be trial verification.
  return fitting.length === 1 ? fitting[0] : undefined;
}

/** An agent's registered public key as a CryptoKey for `alg`, imported once per isolate. */
export function importAgentKey(agentId: string, jwk: AgentPublicJwk, alg: string): Promise<CryptoKey> {
  const cacheKey = `${agentId}\u0000${jwk.kid}\u0000${alg}`;
  let key = keyCache.get(cacheKey);
  if (!key) {
    const { alg: _registered, use: _use, ...material } = jwk;
    key = importJWK(material, alg) as Promise<CryptoKey>;
    keyCache.set(cacheKey, key);
    key.catch(() => keyCache.delete(cacheKey));
  }
  return key;
}

function classify(error: unknown): [IdentityFailure, string?] {
  if (error instanceof errors.JWTExpired) return ["expired"];
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "aud") return ["wrong_audience"];
    if (error.claim === "nbf") return ["not_yet_valid"];
    if (error.claim === "iat") return ["issued_in_future"];
    if (error.claim === "iss" || error.claim === "sub") return ["issuer_subject_mismatch"];
    return ["missing_claim", error.claim];
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return ["bad_signature"];
  if (error instanceof errors.JOSEAlgNotAllowed) return ["algorithm_not_allowed"];
  if (error instanceof errors.JOSEError) return ["malformed", error.code];
  // Anything else is a bug in Writ, not bad input: let it surface as a 500.
  throw error;
}
