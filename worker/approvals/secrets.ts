/** Unguessable one-time secrets (link tokens, auth_req_id parts), stored only as SHA-256 hashes. */
const SECRET_BYTES = 32;

export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function randomSecret(bytes = SECRET_BYTES): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export async function hashSecret(secret: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret))));
}

/** Compares two hashes without leaking, through timing, how many leading characters matched. */
export function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
