/**
 * DPoP proofs (RFC 9449) for the bench: what an agent sends on POST /token to get a bound token, and on each call to
 * a service with it. Each proof carries a unique `jti` (both the broker and the verifier refuse a replayed one) and an
 * `iat` of when it was made (both refuse one older than a minute plus their clock tolerance), so proofs are made in
 * pools right before each timed run, like the request bodies (bench/agents.ts), never reused and never made while a
 * server is measured. Signed with node:crypto directly, as the assertions are: cheap enough for tens of thousands.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign } from "node:crypto";
import type { JWK } from "jose";

/** The key an agent binds its tokens to: the private half signs proofs, the public half rides in each proof's header. */
export type BenchDpopKey = { privateKey: KeyObject; publicJwk: JWK };

export function generateDpopKey(): BenchDpopKey {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const { kty, crv, x, y } = publicKey.export({ format: "jwk" });
  return { privateKey, publicJwk: { kty, crv, x, y } };
}

export type ProofTarget = {
  /** The request's method (`htm`). */
  method: string;
  /** The request's URL without query (`htu`). */
  url: string;
  /** The access token the request carries: sets `ath` (a call to a service, not a token request). */
  accessToken?: string;
};

/** One proof as an honest client makes it (schemas/dpop.ts checks it): typ dpop+jwt, ES256, the public key in the header. */
export function dpopProof(key: BenchDpopKey, target: ProofTarget, nowSeconds: number): string {
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: key.publicJwk };
  const claims = {
    jti: randomUUID(),
    htm: target.method,
    htu: target.url,
    iat: nowSeconds,
    ...(target.accessToken === undefined ? {} : { ath: accessTokenHash(target.accessToken) }),
  };
  const input = `${base64url(header)}.${base64url(claims)}`;
  const signature = sign("sha256", Buffer.from(input), { key: key.privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${signature.toString("base64url")}`;
}

/** `count` fresh proofs for one target, all dated now. */
export function dpopProofs(key: BenchDpopKey, target: ProofTarget, count: number): string[] {
  const now = Math.floor(Date.now() / 1000);
  return Array.from({ length: count }, () => dpopProof(key, target, now));
}

/** RFC 9449 §4.2 `ath`: base64url(SHA-256(access token)). */
function accessTokenHash(accessToken: string): string {
  return createHash("sha256").update(accessToken).digest("base64url");
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}
