import { base64url, calculateJwkThumbprint, exportJWK, type JWK, SignJWT } from "jose";

/**
 * The agent's DPoP key (RFC 9449): proofs for the broker's token endpoint, so the tokens it issues are bound to this
 * key (`cnf.jkt`), and proofs for each call to a service with such a token. A token stolen without the key is then
 * useless. Proofs carry no nonce: Writ's broker and verifier do not ask for one.
 *
 * @example
 * const dpop = await createDpopKey();
 * const proof = await dpop.proof("GET", "https://crm.example.com/customers?limit=10", accessToken);
 */
export type DpopKey = {
  /** The public key, as each proof's `jwk` header carries it. */
  readonly publicJwk: JWK;
  /** RFC 7638 thumbprint of `publicJwk`: what a bound token names as `cnf.jkt`. */
  readonly thumbprint: string;
  /**
   * A fresh proof for one HTTP request: `htm` the method, `htu` the URL without query or fragment, a random `jti`,
   * `iat` now, and `ath` when the request carries `accessToken`.
   */
  proof(method: string, url: string, accessToken?: string, nowMs?: number): Promise<string>;
};

/** What `dpop` may be given as: a key pair you keep elsewhere (ECDSA P-256 or Ed25519), or nothing for a fresh one. */
export type DpopKeyOptions = { key?: CryptoKeyPair };

/**
 * Makes a DPoP key: by default a new ES256 key pair whose private half cannot be exported (it lives and dies with
 * this process, which is what binding a token to "this agent process" means).
 *
 * @example
 * const dpop = await createDpopKey(); // or createDpopKey({ key: await loadMyKeyPair() })
 */
export async function createDpopKey(options: DpopKeyOptions = {}): Promise<DpopKey> {
  const pair =
    options.key ?? ((await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"])) as CryptoKeyPair);
  if (typeof pair !== "object" || pair === null || pair.privateKey === undefined || pair.publicKey === undefined)
    throw new TypeError("dpop.key must be a CryptoKeyPair");
  const alg = algorithmOf(pair.privateKey);
  const exported = await exportJWK(pair.publicKey);
  // Only the public members RFC 7638 and the verifier need: nothing else of the key travels.
  const publicJwk: JWK =
    exported.kty === "EC"
      ? { kty: "EC", crv: exported.crv, x: exported.x, y: exported.y }
      : { kty: "OKP", crv: exported.crv, x: exported.x };
  const thumbprint = await calculateJwkThumbprint(publicJwk, "sha256");
  return Object.freeze({
    publicJwk: Object.freeze(publicJwk),
    thumbprint,
    async proof(method: string, url: string, accessToken?: string, nowMs: number = Date.now()): Promise<string> {
      const target = new URL(url);
      target.search = "";
      target.hash = "";
      const claims: Record<string, unknown> = { htm: method, htu: target.href, jti: crypto.randomUUID(), iat: Math.floor(nowMs / 1000) };
      if (accessToken !== undefined) claims.ath = await accessTokenHash(accessToken);
      return new SignJWT(claims).setProtectedHeader({ typ: "dpop+jwt", alg, jwk: publicJwk }).sign(pair.privateKey);
    },
  });
}

/** RFC 9449 §4.2 `ath`: base64url(SHA-256(access token)). */
async function accessTokenHash(accessToken: string): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accessToken))));
}

function algorithmOf(key: CryptoKey): "ES256" | "EdDSA" {
  const { name, namedCurve } = key.algorithm as { name: string; namedCurve?: string };
  if (name === "ECDSA" && namedCurve === "P-256") return "ES256";
  if (name === "Ed25519") return "EdDSA";
  throw new TypeError("dpop.key must be an ECDSA P-256 or Ed25519 key pair");
}
