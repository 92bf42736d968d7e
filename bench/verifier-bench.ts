/**
 * The verifier library against raw `jose.jwtVerify`, in one Node process, with the same local key set, the same
 * tokens (issued by the broker under test) and the same checks jose can do: whatever the library adds on top
 * (claims schema, grant object) is what the ratio measures. Rounds alternate which side goes first.
 */
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from "jose";
import { type BenchDpopKey, dpopProofs } from "./dpop.ts";
import type { DpopVerifierResult, VerifierResult } from "./results.ts";

const ROUNDS = 7;
const VERIFICATIONS_PER_ROUND = 3000;

export async function benchVerifier(options: {
  tokens: readonly string[];
  jwks: JSONWebKeySet;
  issuer: string;
  audience: string;
  scope: string;
}): Promise<VerifierResult> {
  const { tokens, jwks, issuer, audience, scope } = options;
  if (tokens.length === 0) return { skipped: "the broker issued no token to verify" };
  let library: typeof import("../verifier/index.ts");
  try {
    library = await import("../verifier/index.ts");
  } catch (error) {
    return { skipped: `verifier/index.ts does not load: ${error instanceof Error ? error.message : String(error)}` };
  }
  const verifier = library.createVerifier({ issuer, audience, jwks });
  const keySet = createLocalJWKSet(jwks);
  const joseOptions = rawJoseOptions(library, issuer, audience);

  const viaLibrary = async () => {
    for (let i = 0; i < VERIFICATIONS_PER_ROUND; i++) await verifier.verify(tokens[i % tokens.length] as string, { scope });
  };
  const viaJose = async () => {
    for (let i = 0; i < VERIFICATIONS_PER_ROUND; i++) await jwtVerify(tokens[i % tokens.length] as string, keySet, joseOptions);
  };
  // Both must accept every token before anything is timed: a refusal would be measured as speed.
  await viaLibrary();
  await viaJose();

  const libraryRates: number[] = [];
  const joseRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? [viaLibrary, viaJose] : [viaJose, viaLibrary];
    for (const run of order) {
      const started = performance.now();
      await run();
      const rate = VERIFICATIONS_PER_ROUND / ((performance.now() - started) / 1000);
      (run === viaLibrary ? libraryRates : joseRates).push(rate);
    }
  }
  const verifierPerSecond = median(libraryRates);
  const joseJwtVerifyPerSecond = median(joseRates);
  // Paired by round, so a slow moment on a shared machine hits both sides of a ratio.
  const ratio = median(libraryRates.map((rate, i) => rate / (joseRates[i] as number)));
  return { tokens: tokens.length, rounds: ROUNDS, verifierPerSecond, joseJwtVerifyPerSecond, ratio };
}

/**
 * DPoP at a service (RFC 9449 §7): `verifyRequest` on requests with `Authorization: DPoP <bound token>` and a fresh
 * proof each (its own `jti`, the token's `ath`), against `verifyRequest` on the same requests with a Bearer token and
 * raw `jose.jwtVerify` of the bound tokens. The proofs of a round are made just before it, untimed (each is good for
 * a minute); the requests are built untimed too, as a service gets them from its framework. The replay store is the
 * library's in-memory one, sized for every proof of the run so it never refuses one as full.
 */
export async function benchDpopVerifier(options: {
  boundTokens: readonly string[];
  bearerTokens: readonly string[];
  key: BenchDpopKey;
  jwks: JSONWebKeySet;
  issuer: string;
  audience: string;
  scope: string;
  /** The service URL the requests go to (the proofs' `htu`). */
  resourceUrl: string;
}): Promise<DpopVerifierResult> {
  const { boundTokens, bearerTokens, key, jwks, issuer, audience, scope, resourceUrl } = options;
  if (boundTokens.length === 0 || bearerTokens.length === 0) return { skipped: "the broker issued no token to verify" };
  let library: typeof import("../verifier/index.ts");
  try {
    library = await import("../verifier/index.ts");
  } catch (error) {
    return { skipped: `verifier/index.ts does not load: ${error instanceof Error ? error.message : String(error)}` };
  }
  const method = "GET";
  // One check run, then the timed rounds: every proof is used once.
  const replayStore = library.memoryDpopReplayStore({ capacity: (ROUNDS + 2) * VERIFICATIONS_PER_ROUND });
  const verifier = library.createVerifier({ issuer, audience, jwks, dpop: { replayStore } });
  const keySet = createLocalJWKSet(jwks);
  const joseOptions = rawJoseOptions(library, issuer, audience);
  const request = (authorization: string, proof?: string) =>
    new Request(resourceUrl, { method, headers: proof === undefined ? { authorization } : { authorization, dpop: proof } });
  // Fresh proofs for one round: per token, as many as the round sends it.
  const dpopRequests = (): Request[] => {
    const perToken = boundTokens.map((token) =>
      dpopProofs(key, { method, url: resourceUrl, accessToken: token }, Math.ceil(VERIFICATIONS_PER_ROUND / boundTokens.length)),
    );
    return Array.from({ length: VERIFICATIONS_PER_ROUND }, (_, i) => {
      const t = i % boundTokens.length;
      const proof = perToken[t]?.[Math.floor(i / boundTokens.length)] as string;
      return request(`DPoP ${boundTokens[t] as string}`, proof);
    });
  };
  // Bearer requests hold nothing one-time: one set serves every round.
  const bearerRequests = Array.from({ length: VERIFICATIONS_PER_ROUND }, (_, i) =>
    request(`Bearer ${bearerTokens[i % bearerTokens.length] as string}`),
  );

  const viaDpop = async (requests: readonly Request[]) => {
    for (const r of requests) await verifier.verifyRequest(r, { scope });
  };
  const viaBearer = async () => {
    for (const r of bearerRequests) await verifier.verifyRequest(r, { scope });
  };
  const viaJose = async () => {
    for (let i = 0; i < VERIFICATIONS_PER_ROUND; i++) await jwtVerify(boundTokens[i % boundTokens.length] as string, keySet, joseOptions);
  };
  // Every side must accept every request before anything is timed: a refusal would be measured as speed.
  try {
    await viaDpop(dpopRequests());
    await viaBearer();
    await viaJose();
  } catch (error) {
    return { skipped: `a verification failed before timing: ${error instanceof Error ? error.message : String(error)}` };
  }

  const rates = { dpop: [] as number[], bearer: [] as number[], jose: [] as number[] };
  const timed = async (side: keyof typeof rates) => {
    const requests = side === "dpop" ? dpopRequests() : undefined;
    const started = performance.now();
    if (requests) await viaDpop(requests);
    else await (side === "bearer" ? viaBearer() : viaJose());
    rates[side].push(VERIFICATIONS_PER_ROUND / ((performance.now() - started) / 1000));
  };
  const orders: (keyof typeof rates)[][] = [
    ["dpop", "bearer", "jose"],
    ["jose", "bearer", "dpop"],
    ["bearer", "dpop", "jose"],
  ];
  for (let round = 0; round < ROUNDS; round++) for (const side of orders[round % orders.length] ?? []) await timed(side);
  const paired = (a: number[], b: number[]) => median(a.map((rate, i) => rate / (b[i] as number)));
  return {
    tokens: boundTokens.length,
    rounds: ROUNDS,
    dpopPerSecond: median(rates.dpop),
    bearerPerSecond: median(rates.bearer),
    joseJwtVerifyPerSecond: median(rates.jose),
    vsJose: paired(rates.dpop, rates.jose),
    vsBearer: paired(rates.dpop, rates.bearer),
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** What the library asks of jose (verifier/create-verifier.ts): the comparison with raw jose is the library's own overhead. */
function rawJoseOptions(library: { DEFAULT_ALGORITHMS: readonly string[] }, issuer: string, audience: string) {
  return {
    algorithms: [...library.DEFAULT_ALGORITHMS],
    issuer,
    audience,
    typ: "at+jwt",
    clockTolerance: 30,
    requiredClaims: ["exp", "iat", "jti", "sub", "client_id", "scope"],
  };
}
