/** Request bodies as an HTTP client sends them; each transport (the Worker's fetch, a Hono app, a real socket) takes these. */

export const FORM_CONTENT_TYPE = "application/x-www-form-urlencoded";

export type Form = Record<string, string> | URLSearchParams | string;
/** Request options whose headers stay a plain record, so that a caller can add its own. */
export type PostInit = RequestInit & { headers: Record<string, string> };

/** A POST of an HTML form or OAuth request (RFC 6749 §3.2); `null` sends no body and no content type. */
export function formPost(fields: Form | null, headers: Record<string, string> = {}): PostInit {
  if (fields === null) return { method: "POST", headers };
  const body = typeof fields === "string" || fields instanceof URLSearchParams ? fields : new URLSearchParams(fields);
  return { method: "POST", headers: { "content-type": FORM_CONTENT_TYPE, ...headers }, body };
}

/** A POST of `body` as JSON (a string becomes a JSON string). */
export function jsonPost(body: unknown, headers: Record<string, string> = {}): PostInit {
  return { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}

/** The request options that send `token` as an RFC 6750 §2.1 bearer credential. */
export function bearer(token: string): { headers: { Authorization: string } } {
  return { headers: { Authorization: `Bearer ${token}` } };
}
