import { exportJWK, generateKeyPair } from "jose";
import { type SigningAlgorithm, type SigningKey, SigningKeySchema } from "../schemas/signing-keys.ts";
import { utcDay } from "./time.ts";

/** A fresh private signing key in the SIGNING_KEYS format. Shared by `npm run keygen` and the dev key object. */
export async function generateSigningKey(alg: SigningAlgorithm, status: SigningKey["status"], now = new Date()): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair(alg === "EdDSA" ? "Ed25519" : alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  // The date in the kid tells an operator at a glance how old a key is.
  const kid = `${alg.toLowerCase()}-${utcDay(now.getTime())}-${crypto.randomUUID().slice(0, 8)}`;
  return SigningKeySchema.parse({ ...jwk, kid, alg, status });
}
