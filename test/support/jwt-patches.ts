/**
 * JWTs changed the way an attacker changes them, for the fuzz generators: a well-formed token (an access token, an
 * agent assertion) plus patches. A patch is plain data, so a shrunk counterexample reads as what was done to the
 * token; a fatal patch names the refusals it may cause. Tokens are signed by hand (WebCrypto, RFC 7515 §5.1), so any
 * header, alg and payload can be signed, with the real key, an attacker's, or the public key as an HMAC secret.
 */
import { base64url, exportJWK, generateKeyPair, type JWK } from "jose";

/** Who signs: the legitimate key, keys the attacker made (the first also under the legitimate kid), the public key as an HMAC secret, or nobody. */
export type Signer = "trusted" | "attacker" | "attacker-eddsa" | "attacker-rsa" | "hs256-public" | "none";
/** What happens to the compact token after signing. */
export type Afterwards = "none" | "tamper-payload" | "strip-signature" | "flip-signature" | { truncateAt: number };

/** One change to a token: header members and claims to set (`undefined` removes), time claims as offsets from now. */
export type JwtPatch<Code extends string> = {
  label: string;
  /** For a fatal patch, the refusals that name what it broke. */
  codes?: readonly Code[];
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  /** Seconds from now, set when the token is built. */
  times?: { iat?: number; nbf?: number; exp?: number };
  signer?: Signer;
  after?: Afterwards;
};

export type PatchedJwt = { header: Record<string, unknown>; claims: Record<string, unknown>; signer: Signer; after: Afterwards };

/** The legitimate signer, and keys of the attacker's. */
export type SigningKeys = {
  trusted: { privateKey: CryptoKey; alg: "ES256" | "EdDSA"; publicJwk: JWK };
  attacker: CryptoKey;
  attackerEd: CryptoKey;
  attackerRsa: CryptoKey;
};

/** Keys an attacker generates for themselves. */
export async function attackerKeys(): Promise<Omit<SigningKeys, "trusted">> {
  const [attacker, attackerEd, attackerRsa] = await Promise.all([
    generateKeyPair("ES256"),
    generateKeyPair("EdDSA"),
    generateKeyPair("RS256"),
  ]);
  return { attacker: attacker.privateKey, attackerEd: attackerEd.privateKey, attackerRsa: attackerRsa.privateKey };
}

/** A key pair as the legitimate signer of `alg`, with its public JWK. */
export async function trustedKey(alg: "ES256" | "EdDSA"): Promise<SigningKeys["trusted"]> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, alg, publicJwk: await exportJWK(publicKey) };
}

const encodeJson = (value: unknown) => base64url.encode(JSON.stringify(value));

/** A compact JWS of any header and payload with any signature bytes (for generators of non-tokens). */
export function compactJws(header: unknown, payload: unknown, signature: Uint8Array): string {
  return `${encodeJson(header)}.${encodeJson(payload)}.${base64url.encode(signature)}`;
}

/** The token's header and claims after `patches`, in order (a later patch wins). */
export function patchedJwt(
  base: { header: Record<string, unknown>; claims: Record<string, unknown> },
  patches: readonly JwtPatch<string>[],
  now: number,
): PatchedJwt {
  const header = { ...base.header };
  const claims = { ...base.claims };
  let signer: Signer = "trusted";
  let after: Afterwards = "none";
  for (const p of patches) {
    Object.assign(header, p.header);
    Object.assign(claims, p.claims);
    for (const [name, offset] of Object.entries(p.times ?? {})) claims[name] = now + offset;
    signer = p.signer ?? signer;
    after = p.after ?? after;
  }
  for (const record of [header, claims]) for (const [name, value] of Object.entries(record)) if (value === undefined) delete record[name];
  return { header, claims, signer, after };
}

/** Signs the token as its signer would and applies what happens to it afterwards. */
export async function buildJwt(token: PatchedJwt, keys: SigningKeys): Promise<string> {
  const input = `${encodeJson(token.header)}.${encodeJson(token.claims)}`;
  const signature = base64url.encode(await sign(token.signer, keys, new Uint8Array(new TextEncoder().encode(input))));
  const compact = `${input}.${signature}`;
  const after = token.after;
  if (after === "none") return compact;
  if (after === "tamper-payload") return `${encodeJson(token.header)}.${encodeJson({ ...token.claims, tampered: true })}.${signature}`;
  if (after === "strip-signature") return `${input}.`;
  if (after === "flip-signature") return `${input}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
  return compact.slice(0, Math.floor(compact.length * after.truncateAt));
}

async function sign(signer: Signer, keys: SigningKeys, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const signed = (algorithm: Parameters<typeof crypto.subtle.sign>[0], key: CryptoKey) =>
    crypto.subtle.sign(algorithm, key, data).then((bytes) => new Uint8Array(bytes));
  const ecdsa = { name: "ECDSA", hash: "SHA-256" };
  switch (signer) {
    case "trusted":
      return signed(keys.trusted.alg === "ES256" ? ecdsa : { name: "Ed25519" }, keys.trusted.privateKey);
    case "attacker":
      return signed(ecdsa, keys.attacker);
    case "attacker-eddsa":
      return signed({ name: "Ed25519" }, keys.attackerEd);
    case "attacker-rsa":
      return signed({ name: "RSASSA-PKCS1-v1_5" }, keys.attackerRsa);
    case "hs256-public": {
      // Algorithm confusion: the public JWK's text as the HMAC secret.
      const secret = new TextEncoder().encode(JSON.stringify(keys.trusted.publicJwk));
      return signed("HMAC", await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]));
    }
    case "none":
      return new Uint8Array();
  }
}
