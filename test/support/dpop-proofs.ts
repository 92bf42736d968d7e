// DPoP keys and proofs (RFC 9449) for the broker's and the verifier's tests: honest ones and every kind an attacker could send.
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { accessTokenHash } from "../../schemas/dpop.ts";

export type DpopKey = { alg: string; privateKey: CryptoKey; publicJwk: JWK; privateJwk: JWK; jkt: string };

export async function dpopKey(alg: "ES256" | "EdDSA" | "RS256" = "ES256"): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { alg, privateKey, publicJwk, privateJwk: await exportJWK(privateKey), jkt: await calculateJwkThumbprint(publicJwk, "sha256") };
}

export type ProofOptions = {
  htm?: string;
  htu: string;
  /** The access token the request carries: sets `ath`. */
  accessToken?: string;
  /** Claims to add or override; `undefined` removes one. */
  claims?: Record<string, unknown>;
  /** Header members to add or override; `undefined` removes one. */
  header?: Record<string, unknown>;
};

/** A proof as an honest client makes it (typ dpop+jwt, the public key in the header, a fresh iat and jti). */
export async function dpopProof(key: DpopKey, options: ProofOptions): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: crypto.randomUUID(),
    htm: options.htm ?? "POST",
    htu: options.htu,
    iat: Math.floor(Date.now() / 1000),
    ...(options.accessToken === undefined ? {} : { ath: await accessTokenHash(options.accessToken) }),
    ...options.claims,
  };
  const header: Record<string, unknown> = { typ: "dpop+jwt", alg: key.alg, jwk: key.publicJwk, ...options.header };
  for (const record of [claims, header]) for (const [name, value] of Object.entries(record)) if (value === undefined) delete record[name];
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}
