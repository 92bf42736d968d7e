import { exportJWK, generateKeyPair, type JWK } from "jose";
import { AGENT_KID_PREFIX } from "../schemas/key-report.ts";
import { type SigningAlgorithm, type SigningKey, SigningKeySchema } from "../schemas/signing-keys.ts";
import { utcDay } from "./time.ts";

/** A fresh private signing key in the SIGNING_KEYS format. Shared by `npm run keygen` and the dev key object. */
export async function generateSigningKey(alg: SigningAlgorithm, status: SigningKey["status"], now = new Date()): Promise<SigningKey> {
  return SigningKeySchema.parse({ ...(await privateJwk(alg)), kid: datedKid(alg.toLowerCase(), now), alg, status });
}

/** An agent's key pair: the private JWK the agent signs with, and its public half as a policy `keys` entry. */
export type AgentKeyPair = { privateJwk: JWK & { kid: string; alg: SigningAlgorithm }; publicJwk: JWK & { kid: string; use: "sig" } };

/**
 * A fresh agent key pair whose kid starts with AGENT_KID_PREFIX and names the agent, so that secret scanners
 * recognise a leaked one and know whom to report it for. Shared by `npm run keygen -- --agent`.
 *
 * @example
 * const { privateJwk, publicJwk } = await generateAgentKey("support-bot", "ES256");
 * // publicJwk.kid === "writ-agent-support-bot-2026-01-31-1a2b3c4d"
 */
export async function generateAgentKey(agentId: string, alg: SigningAlgorithm, now = new Date()): Promise<AgentKeyPair> {
  const kid = datedKid(`${AGENT_KID_PREFIX}${agentId}`, now);
  const { d, ...publicMaterial } = await privateJwk(alg);
  if (d === undefined) throw new TypeError("exported private key has no d");
  const publicJwk = { kid, ...publicMaterial, alg, use: "sig" as const };
  return { privateJwk: { ...publicJwk, d }, publicJwk };
}

async function privateJwk(alg: SigningAlgorithm): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg === "EdDSA" ? "Ed25519" : alg, { extractable: true });
  return exportJWK(privateKey);
}

/** The date in the kid tells an operator at a glance how old a key is; the random part keeps kids unique. */
function datedKid(prefix: string, now: Date): string {
  return `${prefix}-${utcDay(now.getTime())}-${crypto.randomUUID().slice(0, 8)}`;
}
