import { importJWK, SignJWT } from "jose";
import type { AgentKey, AgentPrivateJwk } from "./types.ts";

/** The broker accepts assertions that live at most five minutes; one minute is plenty for one request. */
export const DEFAULT_ASSERTION_LIFETIME_SECONDS = 60;
const MAX_ASSERTION_LIFETIME_SECONDS = 300;

export type AssertionOptions = {
  /** The agent id: the assertion's `iss` and `sub`. */
  agentId: string;
  /** The broker's issuer, exactly as its metadata names it: the assertion's `aud`, a single string. */
  audience: string;
  /** The agent's registered private key. */
  key?: AgentKey;
  /** The same, under the first helper's name. */
  privateJwk?: AgentPrivateJwk;
  /** The `kid` to put in the header when `key` is a CryptoKey (a JWK brings its own). */
  keyId?: string;
  /** Seconds until `exp`; at most 300. Default 60. */
  lifetimeSeconds?: number;
  /** The time to sign at (default: now). */
  now?: Date;
};

/**
 * A fresh single-use client assertion (RFC 7523 §2.2 and §3): `iss` = `sub` = the agent id, `aud` = the issuer,
 * a random `jti` (the broker refuses a replay), `exp` one minute after `iat` by default. `WritClient` signs one for
 * every request; call this directly only to speak the protocol yourself.
 *
 * @example
 * const assertion = await signAgentAssertion({ agentId: "support-bot", audience: "https://writ.example.com", key: privateJwk });
 * // POST /token: client_assertion=<assertion>, client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
 */
export async function signAgentAssertion(options: AssertionOptions): Promise<string> {
  const key = options.key ?? options.privateJwk;
  if (key === undefined) throw new TypeError("signAgentAssertion: pass the agent's private key as `key`");
  const signer = await agentSigningKey(key, options.keyId);
  return signAssertion(signer, {
    agentId: options.agentId,
    audience: options.audience,
    lifetimeSeconds: options.lifetimeSeconds ?? DEFAULT_ASSERTION_LIFETIME_SECONDS,
    nowMs: (options.now ?? new Date()).getTime(),
  });
}

/** A key ready to sign: imported once, with the `alg` and `kid` every assertion names. */
export type SigningKey = { key: CryptoKey; alg: string; kid: string | undefined };

/** Imports and checks the agent's key. A key that cannot sign a Writ assertion is the caller's bug: `TypeError`. */
export async function agentSigningKey(key: AgentKey, keyId?: string): Promise<SigningKey> {
  if (isCryptoKey(key)) return { key, alg: agentKeyAlgorithm(key), kid: keyId };
  const alg = agentKeyAlgorithm(key);
  let imported: CryptoKey | Uint8Array;
  try {
    imported = await importJWK(key, alg);
  } catch (error) {
    // A JWK whose numbers are not a key of its curve: the caller's configuration, not the broker's answer.
    throw new TypeError(
      `WritClient: \`key\` is not a usable ${alg} private key (${error instanceof Error ? error.message : String(error)})`,
      {
        cause: error,
      },
    );
  }
  if (!isCryptoKey(imported)) throw new TypeError("WritClient: `key` must be an asymmetric private key");
  return { key: imported, alg, kid: keyId ?? key.kid };
}

/**
 * The `alg` the agent's key signs with, checked without importing it (so a constructor can fail at once).
 * A key that cannot sign a Writ assertion is the caller's bug: `TypeError`.
 */
export function agentKeyAlgorithm(key: AgentKey): string {
  if (isCryptoKey(key)) {
    if (key.type !== "private") throw new TypeError("WritClient: `key` must be the agent's private key, not its public key");
    return algorithmOfCryptoKey(key);
  }
  if (typeof key !== "object" || key === null || typeof key.kty !== "string")
    throw new TypeError("WritClient: `key` must be a private JWK (an object with kty, crv, d, …) or a CryptoKey");
  if (typeof key.d !== "string") throw new TypeError("WritClient: `key` is a public JWK; pass the private key (the one with `d`)");
  return algorithmOfJwk(key);
}

/** Signs one assertion with a key from `agentSigningKey`. */
export function signAssertion(
  signer: SigningKey,
  claims: { agentId: string; audience: string; lifetimeSeconds: number; nowMs: number },
): Promise<string> {
  const { lifetimeSeconds } = claims;
  if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 1 || lifetimeSeconds > MAX_ASSERTION_LIFETIME_SECONDS)
    throw new TypeError(`assertion lifetime must be a whole number of seconds from 1 to ${MAX_ASSERTION_LIFETIME_SECONDS}`);
  const iat = Math.floor(claims.nowMs / 1000);
  const header = signer.kid === undefined ? { alg: signer.alg } : { alg: signer.alg, kid: signer.kid };
  return new SignJWT({})
    .setProtectedHeader(header)
    .setIssuer(claims.agentId)
    .setSubject(claims.agentId)
    .setAudience(claims.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + lifetimeSeconds)
    .setJti(crypto.randomUUID())
    .sign(signer.key);
}

/** Writ registers EC P-256 keys (ES256) and Ed25519 keys (EdDSA, or its fully-specified name Ed25519). */
function algorithmOfJwk(jwk: AgentPrivateJwk): string {
  if (jwk.kty === "EC" && jwk.crv === "P-256") {
    if (jwk.alg !== undefined && jwk.alg !== "ES256") throw new TypeError(`WritClient: an EC P-256 key signs with ES256, not ${jwk.alg}`);
    return "ES256";
  }
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") {
    if (jwk.alg !== undefined && jwk.alg !== "EdDSA" && jwk.alg !== "Ed25519")
      throw new TypeError(`WritClient: an Ed25519 key signs with EdDSA, not ${jwk.alg}`);
    return jwk.alg ?? "EdDSA";
  }
  throw new TypeError(`WritClient: agent keys are EC P-256 or Ed25519, not ${jwk.kty}${jwk.crv ? ` ${jwk.crv}` : ""}`);
}

function algorithmOfCryptoKey(key: CryptoKey): string {
  const algorithm = key.algorithm as { name: string; namedCurve?: string };
  if (algorithm.name === "ECDSA" && algorithm.namedCurve === "P-256") return "ES256";
  if (algorithm.name === "Ed25519") return "EdDSA";
  throw new TypeError(`WritClient: agent keys are ECDSA P-256 or Ed25519, not ${algorithm.name}`);
}

function isCryptoKey(key: unknown): key is CryptoKey {
  return typeof CryptoKey !== "undefined" && key instanceof CryptoKey;
}
