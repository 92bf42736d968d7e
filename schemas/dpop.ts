import {
  base64url,
  type CryptoKey,
  calculateJwkThumbprint,
  decodeProtectedHeader,
  EmbeddedJWK,
  errors,
  type FlattenedJWSInput,
  type JWK,
  type JWSHeaderParameters,
  jwtVerify,
} from "jose";
import * as z from "zod";

/**
 * DPoP proofs (RFC 9449): the wire shape and the one checker both sides use. The broker checks a proof on POST /token
 * before it binds a token to the proof's key; a service's verifier checks one on every call with a bound token. Both
 * may import only `schemas/` (docs/architecture.md), so the check lives here, with the shapes it enforces, instead
 * of in two copies that could drift.
 *
 * Nonces (RFC 9449 §8, §9) are not used: freshness is `iat` within `DPOP_PROOF_MAX_AGE_SECONDS` and replay is
 * refused by remembering each `jti` for that window (the broker's agent ledger, the verifier's `DpopReplayStore`).
 */

/** RFC 9449 §4.2: the JOSE `typ` of a proof. */
export const DPOP_TYP = "dpop+jwt";
/** RFC 9449 §7.1, §5: the `Authorization` scheme and `token_type` of a bound token. */
export const DPOP_SCHEME = "DPoP";
/**
 * What a proof may be signed with: asymmetric only (no `none`, no HMAC, which RFC 9449 §4.2 forbids). Ed25519 under
 * both names, as for client assertions. RSA is here because openid-client and most HSMs can offer it.
 */
export const DPOP_ALGORITHMS = ["ES256", "ES384", "EdDSA", "Ed25519", "PS256", "RS256"] as const;
export type DpopAlgorithm = (typeof DPOP_ALGORITHMS)[number];
/**
 * How old a proof may be (from its `iat`). Proofs are made for one request and sent at once; a minute covers a slow
 * network, and is also how long each `jti` must be remembered (plus the clock tolerance).
 */
export const DPOP_PROOF_MAX_AGE_SECONDS = 60;
export const DPOP_CLOCK_TOLERANCE_SECONDS = 30;
/** A proof is a small JWS; RSA-4096 with a long `htu` stays far below. Bounds the work a huge header can cause. */
export const MAX_DPOP_PROOF_CHARS = 4096;
const MAX_JTI_CHARS = 256;
/** Private JWK members (RFC 7517/7518 §6): a proof that carries one has leaked its own key, and `k` is symmetric. */
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;
/**
 * How many proof keys and token hashes each process keeps (see `proofKeys`, `tokenHashes`). A client signs every
 * proof with one key and sends one token many times, so a few hundred cover the clients of a busy isolate. A header is
 * at most `MAX_DPOP_PROOF_CHARS` (an ES256 one about 250) and a Writ token under 2 KB, so both stay under a few MB.
 */
export const DPOP_CACHE_ENTRIES = 512;

/** RFC 9449 §4.2 header, after jose has checked `typ` and `alg`: the public key the proof is signed with. */
export const DpopJwkSchema = z.looseObject({ kty: z.enum(["EC", "OKP", "RSA"]) });

/** RFC 9449 §4.2 payload claims. `ath` only on calls that carry a token (§4.3 point 11), `nonce` unused here. */
export const DpopProofClaimsSchema = z.looseObject({
  jti: z.string().min(1).max(MAX_JTI_CHARS),
  htm: z.string().min(1),
  htu: z.string().min(1),
  iat: z.number().int(),
  ath: z.string().min(1).optional(),
});
export type DpopProofClaims = z.infer<typeof DpopProofClaimsSchema>;

/** Why a proof was refused: one word for logs and tests. Every one is `invalid_dpop_proof` on the wire except as noted where mapped. */
export type DpopProofFailure =
  | "malformed"
  | "typ_invalid"
  | "algorithm_not_allowed"
  | "jwk_invalid"
  | "jwk_private"
  | "signature_invalid"
  | "claims_invalid"
  | "method_mismatch"
  | "url_mismatch"
  | "issued_in_future"
  | "stale"
  | "ath_missing"
  | "ath_mismatch"
  /** The proof is signed by another key than the one the token is bound to (`cnf.jkt`). */
  | "key_mismatch";

/**
 * `expiresAt` (epoch seconds) is the last whole second in which the proof is still accepted (`iat` + max age +
 * tolerance, inclusive: the check compares whole seconds). Its `jti` must be remembered until that second has ended,
 * that is until `(expiresAt + 1) * 1000` in epoch milliseconds: `expiresAt * 1000` would leave its last second open
 * to a replay.
 */
export type VerifiedDpopProof = { jkt: string; jti: string; iat: number; expiresAt: number };
export type DpopProofResult = { ok: true; value: VerifiedDpopProof } | { ok: false; failure: DpopProofFailure; detail?: string };

export type DpopProofExpectations = {
  /** The request's method, e.g. "POST". */
  method: string;
  /** The request's full URL; its query and fragment are ignored (RFC 9449 §4.3 point 9). */
  url: string;
  now: Date;
  /** The access token the request carries: the proof must then hold its hash as `ath`. */
  accessToken?: string;
  /** The token's `cnf.jkt`: the proof must be signed with that key. */
  jkt?: string;
  /** Default `DPOP_ALGORITHMS`. */
  algorithms?: readonly string[];
  maxAgeSeconds?: number;
  clockToleranceSeconds?: number;
};

/**
 * Checks one DPoP proof (RFC 9449 §4.3 points 2–12, nonce aside). Does not check replay: the caller records `jti`
 * (scoped to `jkt`) through the second `expiresAt` and refuses one it has seen. Never throws for a bad proof.
 *
 * @example
 * const result = await verifyDpopProof(request.headers.get("DPoP") ?? "", { method: "POST", url: request.url, now: new Date() });
 * if (result.ok) bindTokenTo(result.value.jkt);
 */
export async function verifyDpopProof(proof: string, expect: DpopProofExpectations): Promise<DpopProofResult> {
  const algorithms = expect.algorithms ?? DPOP_ALGORITHMS;
  const maxAge = expect.maxAgeSeconds ?? DPOP_PROOF_MAX_AGE_SECONDS;
  const tolerance = expect.clockToleranceSeconds ?? DPOP_CLOCK_TOLERANCE_SECONDS;
  if (typeof proof !== "string" || proof.length === 0 || proof.length > MAX_DPOP_PROOF_CHARS) return refuse("malformed", "size");
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    return refuse("malformed");
  }
  if (header.typ !== DPOP_TYP) return refuse("typ_invalid", `typ ${String(header.typ)}`);
  if (typeof header.alg !== "string" || !algorithms.includes(header.alg))
    return refuse("algorithm_not_allowed", `alg ${String(header.alg)}`);
  const jwk = header.jwk as Record<string, unknown> | undefined;
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk) || !DpopJwkSchema.safeParse(jwk).success) return refuse("jwk_invalid");
  if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) return refuse("jwk_private");

  let payload: unknown;
  let encodedHeader = "";
  let proofKey: ProofKey | undefined;
  try {
    ({ payload } = await jwtVerify(
      proof,
      async (protectedHeader: JWSHeaderParameters, token: FlattenedJWSInput) => {
        encodedHeader = token.protected ?? "";
        proofKey = proofKeys.get(encodedHeader);
        // EmbeddedJWK imports the header's `jwk` for `alg` (a key of another type fails) and refuses a non-public one.
        // It reads nothing but the protected header (a compact JWS has no other), so one header is one key.
        proofKey ??= { key: await EmbeddedJWK(protectedHeader, token) };
        return proofKey.key;
      },
      { typ: DPOP_TYP, algorithms: [...algorithms] },
    ));
  } catch (error) {
    if (error instanceof errors.JWSSignatureVerificationFailed) return refuse("signature_invalid");
    if (error instanceof errors.JOSEError) return refuse(error.code === "ERR_JWS_INVALID" ? "jwk_invalid" : "malformed", error.code);
    throw error;
  }
  const parsed = DpopProofClaimsSchema.safeParse(payload);
  if (!parsed.success) return refuse("claims_invalid", parsed.error.issues.map((issue) => issue.path.join(".")).join(", "));
  const claims = parsed.data;
  // RFC 9110 §9.1: methods are case-sensitive.
  if (claims.htm !== expect.method) return refuse("method_mismatch", `htm ${claims.htm}`);
  if (!sameTarget(claims.htu, expect.url)) return refuse("url_mismatch");
  const nowSeconds = Math.floor(expect.now.getTime() / 1000);
  if (claims.iat > nowSeconds + tolerance) return refuse("issued_in_future");
  if (claims.iat < nowSeconds - maxAge - tolerance) return refuse("stale", `iat ${nowSeconds - claims.iat}s ago`);
  // Remembered only once it has signed a fresh proof for this method and URL: junk headers never displace a client's key.
  const signedBy = proofKey as ProofKey;
  proofKeys.set(encodedHeader, signedBy);
  if (expect.accessToken !== undefined) {
    if (claims.ath === undefined) return refuse("ath_missing");
    if (claims.ath !== (await cachedAccessTokenHash(expect.accessToken))) return refuse("ath_mismatch");
  }
  signedBy.jkt ??= await calculateJwkThumbprint(jwk as JWK, "sha256");
  const { jkt } = signedBy;
  if (expect.jkt !== undefined && jkt !== expect.jkt) return refuse("key_mismatch");
  return { ok: true, value: { jkt, jti: claims.jti, iat: claims.iat, expiresAt: claims.iat + maxAge + tolerance } };
}

/** RFC 9449 §4.2 `ath`: base64url(SHA-256(ASCII(access token))). */
export async function accessTokenHash(accessToken: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accessToken));
  return base64url.encode(new Uint8Array(digest));
}

/**
 * What a proof check would otherwise redo on every request of a client: import the public key from the header (in
 * Node the import plus the first verification with a new key object cost as much again as the signature check
 * itself), hash it into its thumbprint, and hash the access token (each hash a trip to WebCrypto). Each is a pure
 * function of its key string, and all of it is public (the key a client shows in every proof, the token hash it puts
 * in every proof), so sharing it between requests gives nothing away, and every check still runs on every proof:
 * jose verifies each signature with the remembered key, after the header checks and the caller's `algorithms`.
 */
type ProofKey = { key: CryptoKey; jkt?: string };
/** By the proof's encoded protected header (`typ`, `alg`, `jwk`): the exact input of the import. */
const proofKeys = recentlyUsed<ProofKey>(DPOP_CACHE_ENTRIES);
const tokenHashes = recentlyUsed<string>(DPOP_CACHE_ENTRIES);

async function cachedAccessTokenHash(accessToken: string): Promise<string> {
  const known = tokenHashes.get(accessToken);
  if (known !== undefined) return known;
  const hash = await accessTokenHash(accessToken);
  tokenHashes.set(accessToken, hash);
  return hash;
}

/** A map that keeps the `capacity` entries read or written last (a Map iterates in insertion order: the oldest first). */
function recentlyUsed<V>(capacity: number): { get(key: string): V | undefined; set(key: string, value: V): void } {
  const entries = new Map<string, V>();
  return {
    get(key) {
      const value = entries.get(key);
      if (value !== undefined) {
        entries.delete(key);
        entries.set(key, value);
      }
      return value;
    },
    set(key, value) {
      entries.delete(key);
      entries.set(key, value);
      if (entries.size > capacity) entries.delete(entries.keys().next().value as string);
    },
  };
}

/**
 * RFC 9449 §4.3 point 9: `htu` names the request's URI without query and fragment, compared after RFC 3986
 * syntax- and scheme-based normalisation (what WHATWG URL parsing does: case of scheme and host, default port, dot segments).
 */
export function dpopTarget(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return undefined;
  parsed.search = "";
  parsed.hash = "";
  return parsed.href;
}

function sameTarget(htu: string, requestUrl: string): boolean {
  const claimed = dpopTarget(htu);
  return claimed !== undefined && claimed === dpopTarget(requestUrl);
}

function refuse(failure: DpopProofFailure, detail?: string): DpopProofResult {
  return detail === undefined ? { ok: false, failure } : { ok: false, failure, detail };
}
