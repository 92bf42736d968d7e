import { createHash } from "node:crypto";
import * as jose from "jose";

/** Unguessable one-time secrets (link tokens, auth_req_id parts), stored only as SHA-256 hashes. */
const SECRET_BYTES = 32;

/** Unpadded base64url (RFC 4648 §5), from jose rather than written again. */
export function base64url(bytes: Uint8Array): string {
  return jose.base64url.encode(bytes);
}

/** The bytes of a base64url text (padding tolerated); throws on anything else, so callers of untrusted input catch. */
export function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  // A copy on a fresh ArrayBuffer: WebAuthn and WebCrypto want exactly that, not a view of a shared buffer.
  return new Uint8Array(jose.base64url.decode(text.replace(/=+$/, "")));
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

/**
 * The one constant-time comparison, on the platform's primitive (`crypto.subtle.timingSafeEqual`): equal-length
 * bytes without leaking, through timing, how many leading bytes matched. Synchronous, so Durable Objects can use
 * it inside a transaction.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}

/** Two hashes (or other texts whose length is no secret) compared in constant time. */
export function sameHash(a: string, b: string): boolean {
  const encoder = new TextEncoder();
  return constantTimeEqual(encoder.encode(a), encoder.encode(b));
}

/** Compares two secrets over their SHA-256 digests, so neither content nor length leaks through timing. */
export async function sameSecret(presented: string, expected: string): Promise<boolean> {
  return constantTimeEqual(createHash("sha256").update(presented).digest(), createHash("sha256").update(expected).digest());
}
