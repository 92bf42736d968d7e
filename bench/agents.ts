/**
 * The agents the bench speaks for, and their token requests. Every request carries a fresh client assertion
 * with a unique `jti` (the broker refuses a replayed one), so request bodies are generated before each timed
 * run, never reused, and never generated while the server is being measured.
 */
import { generateKeyPairSync, type KeyObject, randomUUID, sign } from "node:crypto";
import type { JWK } from "jose";

export type BenchAgent = { id: string; kid: string; privateKey: KeyObject; publicJwk: JWK & { kid: string } };
export type Grant = "token-exchange" | "client-credentials";

/** The bench policy's use case without a budget, and the same with a budget (bench/bench-policy.ts). */
export const USE_CASE = "crm.customers.read";
export const BUDGETED_USE_CASE = "crm.customers.read.budgeted";
const ASSERTION_LIFETIME_SECONDS = 120;

/** `count` fresh ES256 agents, `bench-agent-000` onwards. */
export function generateAgents(count: number): BenchAgent[] {
  return Array.from({ length: count }, (_, i) => {
    const id = `bench-agent-${String(i).padStart(3, "0")}`;
    const kid = `${id}-1`;
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const { kty, crv, x, y } = publicKey.export({ format: "jwk" });
    return { id, kid, privateKey, publicJwk: { kty, crv, x, y, kid, alg: "ES256" } };
  });
}

/**
 * The same claims `signAgentAssertion` (client/index.ts) puts in an assertion, signed with node:crypto directly:
 * about four times faster than through WebCrypto, which keeps generating tens of thousands of them cheap.
 */
export function signAssertion(agent: BenchAgent, audience: string, nowSeconds: number): string {
  const header = { alg: "ES256", kid: agent.kid };
  const claims = {
    iss: agent.id,
    sub: agent.id,
    aud: audience,
    iat: nowSeconds,
    exp: nowSeconds + ASSERTION_LIFETIME_SECONDS,
    jti: randomUUID(),
  };
  const input = `${base64url(header)}.${base64url(claims)}`;
  const signature = sign("sha256", Buffer.from(input), { key: agent.privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${signature.toString("base64url")}`;
}

/** `count` token request bodies for a use case, cycling through the agents, each with its own fresh assertion. */
export function tokenRequestBodies(
  grant: Grant,
  agents: readonly BenchAgent[],
  audience: string,
  count: number,
  useCase: string = USE_CASE,
): string[] {
  const now = Math.floor(Date.now() / 1000);
  const bodies = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const assertion = signAssertion(agents[i % agents.length] as BenchAgent, audience, now);
    bodies[i] = tokenRequestBody(grant, assertion, useCase);
  }
  return bodies;
}

export function tokenRequestBody(grant: Grant, assertion: string, useCase: string = USE_CASE): string {
  const form: Record<string, string> =
    grant === "client-credentials"
      ? {
          grant_type: "client_credentials",
          client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
          client_assertion: assertion,
          scope: useCase,
        }
      : {
          grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
          subject_token: assertion,
          subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
          scope: useCase,
        };
  return new URLSearchParams(form).toString();
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}
