import { decodeJwt, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from "jose";
import { KEY_REPORT_TYP } from "../../schemas/key-report.ts";
import type { CompiledPolicy } from "../policy/compile-policy.ts";
import type { IdentityFailure } from "../refusals.ts";
import { ASSERTION_ALGORITHMS, ASSERTION_CLOCK_TOLERANCE_SECONDS, checkProofLifetime, importAgentKey } from "./agent-assertion.ts";

/**
 * Why a report was not taken as proof: the identity checks it shares with a client assertion (no `iss`, no
 * client_id, and a replay is not a failure but an ignored repeat), or that it is not typed as a report.
 * Log only: the sender gets the same answer whatever failed, or nothing did.
 */
export type KeyReportFailure = Exclude<IdentityFailure, "issuer_subject_mismatch" | "client_id_mismatch" | "replayed"> | "wrong_type";

/** `expiresAt` (epoch seconds, clock tolerance included): until then the report's `jti` must be remembered, so a replay does nothing. */
export type VerifiedKeyReport = { agentId: string; kid: string; jti: string; expiresAt: number };
export type KeyReportResult = { ok: true; value: VerifiedKeyReport } | { ok: false; failure: KeyReportFailure; detail?: string };

export type KeyReportExpectations = {
  policy: CompiledPolicy;
  /** `<ISSUER>/keys/report`: a report is addressed to this endpoint of this broker, never to the token endpoint. */
  audience: string;
  now: Date;
};

const ALLOWED_ALGORITHMS: ReadonlySet<string> = new Set(ASSERTION_ALGORITHMS);
const CLAIM_FAILURES: Readonly<Record<string, KeyReportFailure>> = {
  typ: "wrong_type",
  aud: "wrong_audience",
  nbf: "not_yet_valid",
};

/**
 * Checks a leaked-key report: a JWT typed KEY_REPORT_TYP, naming an agent in `sub`, signed by the key of that agent
 * its `kid` names, for this broker's report endpoint, and fresh (`iat` and `exp` required, five minutes at most, the
 * client assertion's limits). A valid report proves only that its sender holds the private key: which is all it
 * takes to quarantine the agent, since whoever holds the key can act as the agent. Pure: `now` is passed in.
 *
 * @example
 * const result = await verifyKeyReport(form.report, { policy, audience: `${issuer}/keys/report`, now });
 * if (result.ok) await switchOff(env, result.value.agentId, now.getTime(), "key_leaked");
 */
export async function verifyKeyReport(jwt: string, expect: KeyReportExpectations): Promise<KeyReportResult> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: JWTPayload;
  try {
    header = decodeProtectedHeader(jwt);
    claims = decodeJwt(jwt);
  } catch {
    return refuse("malformed");
  }
  const { alg, kid } = header;
  if (alg === undefined || !ALLOWED_ALGORITHMS.has(alg)) return refuse("algorithm_not_allowed", `alg ${String(alg)}`);
  const agent = typeof claims.sub === "string" ? expect.policy.agents.get(claims.sub) : undefined;
  if (!agent) return refuse("unknown_agent", String(claims.sub));
  // A report names the key it was signed with: trying every key of the agent would be trial verification.
  const jwk = typeof kid === "string" ? agent.keys.find((key) => key.kid === kid) : undefined;
  if (!jwk) return refuse("unknown_key", `kid ${String(kid)}`);

  let key: CryptoKey;
  try {
    key = await importAgentKey(agent.id, jwk, alg);
  } catch (error) {
    if (error instanceof errors.JOSEError) return refuse("key_type_mismatch", `${jwk.kty} key, alg ${alg}`);
    throw error;
  }

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(jwt, key, {
      algorithms: [alg],
      typ: KEY_REPORT_TYP,
      subject: agent.id,
      audience: expect.audience,
      currentDate: expect.now,
      clockTolerance: ASSERTION_CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["exp", "iat", "jti"],
    }));
  } catch (error) {
    return refuse(failureOf(error));
  }
  // RFC 7523bis's audience-injection lesson: only this endpoint, as a single string; an array could name others too.
  if (payload.aud !== expect.audience) return refuse("wrong_audience");
  const fresh = checkProofLifetime(payload, expect.now);
  if (!fresh.ok) return fresh;
  return { ok: true, value: { agentId: agent.id, kid: jwk.kid, jti: fresh.jti, expiresAt: fresh.expiresAt } };
}

function refuse(failure: KeyReportFailure, detail?: string): KeyReportResult {
  return detail === undefined ? { ok: false, failure } : { ok: false, failure, detail };
}

/** jose's coded errors are bad input; anything else is a bug in Writ and surfaces as a 500. */
function failureOf(error: unknown): KeyReportFailure {
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JWTClaimValidationFailed) return CLAIM_FAILURES[error.claim] ?? "missing_claim";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
  if (error instanceof errors.JOSEAlgNotAllowed) return "algorithm_not_allowed";
  if (error instanceof errors.JOSEError) return "malformed";
  throw error;
}
