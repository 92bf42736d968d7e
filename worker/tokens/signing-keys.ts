import { importJWK, type JWK } from "jose";
import { parseJson } from "../../lib/json.ts";
import { type SigningKey, type SigningKeySet, SigningKeySetSchema } from "../../schemas/signing-keys.ts";
import type { Config } from "../config.ts";
import type { WritEnv } from "../env.ts";

export type Signer = { kid: string; alg: SigningKey["alg"]; key: CryptoKey };
export type PublicJwk = JWK & { kid: string; alg: string; use: "sig" };
export type ActiveKeys = { signer: Signer; publicKeys: PublicJwk[] };

// Per isolate: parsing the secret and importing the key once saves a key import on every token.
let cached: { source: string; keys: Promise<ActiveKeys> } | undefined;

/**
 * The key that signs and the keys that are published. Production keys come from the SIGNING_KEYS secret;
 * without it, and only where DEV_SIGNING_KEY_ALLOWED is set, a key generated once and kept in a Durable Object.
 */
export function activeKeys(env: WritEnv, config: Config): Promise<ActiveKeys> {
  const source = env.SIGNING_KEYS ?? `dev:${config.signingAlg}`;
  if (cached?.source !== source) {
    const keys = loadKeySet(env, config).then(prepare);
    keys.catch(() => {
      if (cached?.keys === keys) cached = undefined;
    });
    cached = { source, keys };
  }
  return cached.keys;
}

async function loadKeySet(env: WritEnv, config: Config): Promise<SigningKeySet> {
  if (env.SIGNING_KEYS !== undefined) {
    const json = parseJson(env.SIGNING_KEYS);
    if (!json.ok) throw new Error("Writ misconfigured: SIGNING_KEYS is not JSON (generate it with `npm run keygen`)");
    const parsed = SigningKeySetSchema.safeParse(json.value);
    if (!parsed.success)
      throw new Error(
        `Writ misconfigured: SIGNING_KEYS: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    return parsed.data;
  }
  if (!config.devSigningKeyAllowed)
    throw new Error("Writ misconfigured: no SIGNING_KEYS secret (run `npm run keygen`, then `wrangler secret put SIGNING_KEYS`)");
  return env.DEV_SIGNING_KEY.getByName("dev").keySet(config.signingAlg);
}

async function prepare(set: SigningKeySet): Promise<ActiveKeys> {
  const current = set.keys.find((k) => k.status === "current") as SigningKey;
  const { status: _status, ...privateJwk } = current;
  const key = (await importJWK(privateJwk as JWK, current.alg)) as CryptoKey;
  return { signer: { kid: current.kid, alg: current.alg, key }, publicKeys: set.keys.map(publicPart) };
}

/** Copies only public members: a private `d` must never reach the JWKS, whatever else the secret holds. */
export function publicPart(key: SigningKey): PublicJwk {
  const jwk: PublicJwk = { kty: key.kty, crv: key.crv, x: key.x, kid: key.kid, alg: key.alg, use: "sig" };
  if (key.y !== undefined) jwk.y = key.y;
  return jwk;
}
