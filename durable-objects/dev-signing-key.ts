import { DurableObject } from "cloudflare:workers";
import { generateSigningKey } from "../lib/generate-signing-key.ts";
import { type SigningAlgorithm, type SigningKeySet, SigningKeySetSchema } from "../schemas/signing-keys.ts";
import type { NoBindings } from "./bindings.ts";

const STORAGE_KEY = "keyset";

/**
 * Local development only: without a SIGNING_KEYS secret the broker generates one key the first time it is
 * asked and keeps it here, so tokens stay verifiable across `npm start` restarts.
 */
export class DevSigningKey extends DurableObject<NoBindings> {
  keySet(alg: SigningAlgorithm): Promise<SigningKeySet> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const stored = this.ctx.storage.kv.get<SigningKeySet>(STORAGE_KEY);
      if (stored && stored.keys[0]?.alg === alg) return SigningKeySetSchema.parse(stored);
      const keySet: SigningKeySet = { keys: [await generateSigningKey(alg, "current")] };
      this.ctx.storage.kv.put(STORAGE_KEY, keySet);
      return keySet;
    });
  }
}
