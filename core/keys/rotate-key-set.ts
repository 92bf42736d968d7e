import { generateSigningKey } from "../../lib/generate-signing-key.ts";
import { type SigningAlgorithm, type SigningKey, type SigningKeySet, SigningKeySetSchema } from "../../schemas/signing-keys.ts";

export type RotationStep = "add-next" | "promote";

/**
 * One step of a key rotation in which no valid token ever fails verification:
 * 1. `add-next`: publish a new key that does not sign yet; verifiers pick it up within the JWKS max-age.
 * 2. `promote` (after at least that max-age): next signs, current becomes previous, the old previous is dropped.
 *    Its tokens have all expired if promotions are at least the longest token TTL apart.
 */
export async function rotateKeySet(
  set: SigningKeySet,
  alg: SigningAlgorithm,
  now = new Date(),
): Promise<{ step: RotationStep; set: SigningKeySet }> {
  const next = set.keys.find((k) => k.status === "next");
  if (!next) {
    const added: SigningKey = await generateSigningKey(alg, "next", now);
    return { step: "add-next", set: SigningKeySetSchema.parse({ keys: [...set.keys, added] }) };
  }
  const keys = set.keys
    .filter((k) => k.status !== "previous")
    .map((k): SigningKey => ({ ...k, status: k.status === "current" ? "previous" : "current" }));
  return { step: "promote", set: SigningKeySetSchema.parse({ keys }) };
}
