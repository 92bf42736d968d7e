import { createHash } from "node:crypto";
import * as jose from "jose";

/** Unguessable one-time secrets (link tokens, auth_req_id parts), stored only as SHA-256 hashes. */
const SECRET_BYTES = 32;

/** Unpadded base64url (RFC 4648 §5), from jose rather than written again. */
export function base64url(bytes: Uint8Array): string {
  return jose.base64url.encode(bytes);
}

export function randomSecret(bytes = SECRET_BYTES): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/**
 * SHA-256 of a text, base64url: the one digest behind secret hashes, request hashes and the audit chain.
 * node:crypto (nodejs_compat) hashes synchronously; WebCrypto's digest would cost a trip through the event loop
 * per hash, which an audit batch of hundreds of events pays hundreds of times.
 */
export async function sha256(text: string): Promise<string> {
  return base64url(createHash("sha256").update(text).digest());
}

export function hashSecret(secret: string): Promise<string> {
  return sha256(secret);
}

/** Compares two hashes without leaking, through timing, how many leading characters matched. */
export function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** Compares two secrets over their SHA-256 digests, so neither content nor length leaks through timing. */
export async function sameSecret(presented: string, expected: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(presented)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}
