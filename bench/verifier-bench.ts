/**
 * The verifier library against raw `jose.jwtVerify`, in one Node process, with the same local key set, the same
 * tokens (issued by the broker under test) and the same checks jose can do: whatever the library adds on top
 * (claims schema, grant object) is what the ratio measures. Rounds alternate which side goes first.
 */
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from "jose";
import type { VerifierResult } from "./results.ts";

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
  // What the library asks of jose (verifier/create-verifier.ts): the comparison is the library's own overhead.
  const joseOptions = {
    algorithms: [...library.DEFAULT_ALGORITHMS],
    issuer,
    audience,
    typ: "at+jwt",
    clockTolerance: 30,
    requiredClaims: ["exp", "iat", "jti", "sub", "client_id", "scope"],
  };

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

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
