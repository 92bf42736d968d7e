/**
 * The demo agents' identity proofs (RFC 7523 §3 assertions): signed as an honest agent signs them, or with a
 * genuine key over claims an attacker chose. Node-safe, so the end-to-end tests sign with the same helpers.
 */
import { decodeJwt, importJWK, type JWK, type JWTPayload, SignJWT } from "jose";
import { signAgentAssertion } from "../../client/index.ts";
import { epochSeconds } from "../../lib/time.ts";
import demoAgentKeys from "../../policy/demo-agent-keys.json" with { type: "json" };
import { DEV_VARS } from "../../scripts/dev-vars.ts";

/** The test broker's issuer: the audience of every assertion. */
export const ISSUER = DEV_VARS.ISSUER;

export type AgentId = keyof typeof demoAgentKeys;
export type PrivateAgentJwk = JWK & { kid: string; alg: string };
const AGENT_KEYS: Record<AgentId, PrivateAgentJwk> = demoAgentKeys;

/** The agent's registered private key (policy/demo-agent-keys.json: public test fixtures, never registered anywhere real). */
export function agentPrivateJwk(agentId: AgentId): PrivateAgentJwk {
  return AGENT_KEYS[agentId];
}

/** The public half, as registered in the policy: what an attacker can always read. */
export function agentPublicJwk(agentId: AgentId): JWK {
  const { d: _private, ...publicJwk } = agentPrivateJwk(agentId);
  return publicJwk;
}

/** The agent's private key as a CryptoKey with its kid: the shape openid-client's PrivateKeyJwt takes. */
export async function agentSigningKey(agentId: AgentId): Promise<{ key: CryptoKey; kid: string }> {
  const jwk = agentPrivateJwk(agentId);
  const key = await importJWK(jwk, jwk.alg);
  if (!(key instanceof CryptoKey)) throw new TypeError(`demo key of ${agentId} is not an asymmetric key`);
  return { key, kid: jwk.kid };
}

/** A fresh, valid assertion, signed by the agent SDK exactly as an honest agent would; `overrides` bends its lifetime, audience or clock. */
export function assertionFor(
  agentId: AgentId,
  overrides: { audience?: string; lifetimeSeconds?: number; now?: Date } = {},
): Promise<string> {
  return signAgentAssertion({ agentId, privateJwk: agentPrivateJwk(agentId), audience: ISSUER, ...overrides });
}

export function nowSeconds(): number {
  return epochSeconds(Date.now());
}

/** Claims of a well-formed assertion; a value of `undefined` in `overrides` removes that claim. */
export function assertionClaims(agentId: string, overrides: Record<string, unknown> = {}): JWTPayload {
  const iat = nowSeconds();
  const claims: Record<string, unknown> = { iss: agentId, sub: agentId, aud: ISSUER, iat, exp: iat + 60, jti: crypto.randomUUID() };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete claims[name];
    else claims[name] = value;
  }
  return claims;
}

/** Signs arbitrary claims with the agent's real key: the signature is genuine, so only the claim checks can refuse it. */
export async function signWithAgentKey(agentId: AgentId, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const jwk = agentPrivateJwk(agentId);
  const alg = typeof header.alg === "string" ? header.alg : jwk.alg;
  return new SignJWT(claims).setProtectedHeader({ alg, kid: jwk.kid, ...header }).sign(await importJWK(jwk, alg));
}

export function jtiOf(jwt: string): string {
  const { jti } = decodeJwt(jwt);
  if (typeof jti !== "string") throw new TypeError("token has no jti");
  return jti;
}
