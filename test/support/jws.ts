/** Compact JWS built by hand, for what no honest library would produce (RFC 7515 §7.1 serialisation). */
import { base64url } from "jose";

const encodeJson = (value: unknown): string => base64url.encode(JSON.stringify(value));

/** Any header and payload, with any signature text: alg none, unknown members, bad encodings. */
export function handmadeJwt(header: unknown, payload: unknown, signature = ""): string {
  return `${encodeJson(header)}.${encodeJson(payload)}.${signature}`;
}

/** Replaces the payload of a signed token and keeps its signature. */
export function withPayload(token: string, claims: Record<string, unknown>): string {
  const [header, , signature] = token.split(".");
  return `${header}.${encodeJson(claims)}.${signature}`;
}

/**
 * A genuine ES256 signature over any header and payload bytes, bypassing jose's producer checks (unknown `crit`,
 * a payload that is not JSON). WebCrypto's ECDSA output is already JWS's r||s form (RFC 7518 §3.4).
 */
export async function signEs256ByHand(privateKey: CryptoKey, header: Record<string, unknown>, payload: string): Promise<string> {
  const signingInput = `${encodeJson(header)}.${base64url.encode(payload)}`;
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, new TextEncoder().encode(signingInput));
  return `${signingInput}.${base64url.encode(new Uint8Array(signature))}`;
}
