import { base64url, fromBase64url, randomSecret } from "../../lib/crypto.ts";

/**
 * A browser cannot send `Authorization: Bearer <ADMIN_TOKEN>` by itself, so the admin page trades the token
 * (posted once to /admin/session) for a short-lived session cookie. The cookie is only a signed expiry:
 * `v1.<session id>.<expires at, epoch ms>.<HMAC-SHA256>`, keyed by HKDF from ADMIN_TOKEN, so rotating the token
 * ends every session and the broker stores nothing. It is accepted for reading the admin page (GET /admin) and for
 * the page's own forms (the kill switch buttons, `form-auth.ts`), which take it only from the broker's own page
 * (`same-origin.ts`); SameSite=Strict keeps the browser from sending it cross-site in the first place. Every other
 * admin route ignores it.
 */

export const ADMIN_SESSION_COOKIE = "writ_admin_session";
export const ADMIN_SESSION_PATH = "/admin";
export const ADMIN_SESSION_TTL_SECONDS = 3600;

const FORMAT = /^v1\.([A-Za-z0-9_-]{16})\.(\d{13})\.([A-Za-z0-9_-]{43})$/;
const KEY_INFO = "writ admin session v1";

export type AdminSession = { id: string; expiresAt: number };
export type AdminSessionProblem = "session_malformed" | "session_forged" | "session_expired";
export type AdminSessionCheck = { ok: true; session: AdminSession } | { ok: false; problem: AdminSessionProblem };

/**
 * A new session for someone who has just presented the admin token.
 *
 * @example
 * const { value } = await issueAdminSession(env.ADMIN_TOKEN, Date.now());
 */
export async function issueAdminSession(adminToken: string, now: number): Promise<{ value: string; session: AdminSession }> {
  if (!adminToken) throw new TypeError("issueAdminSession: the admin token must not be empty");
  const session = { id: randomSecret(12), expiresAt: now + ADMIN_SESSION_TTL_SECONDS * 1000 };
  const payload = `v1.${session.id}.${session.expiresAt}`;
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", await sessionKey(adminToken), encode(payload)));
  return { value: `${payload}.${base64url(signature)}`, session };
}

/**
 * Checks a cookie value: well-formed, signed with the current admin token's key (compared in constant time by
 * `crypto.subtle.verify`) and not expired. `now` is epoch milliseconds.
 *
 * @example
 * const check = await verifyAdminSession(getCookie(c, ADMIN_SESSION_COOKIE) ?? "", env.ADMIN_TOKEN, Date.now());
 */
export async function verifyAdminSession(value: string, adminToken: string, now: number): Promise<AdminSessionCheck> {
  const match = FORMAT.exec(value);
  if (!match || !adminToken) return { ok: false, problem: "session_malformed" };
  const [, id = "", expires = "", signature = ""] = match;
  const valid = await crypto.subtle.verify("HMAC", await sessionKey(adminToken), fromBase64url(signature), encode(`v1.${id}.${expires}`));
  if (!valid) return { ok: false, problem: "session_forged" };
  const expiresAt = Number(expires);
  // A signed expiry further out than one lifetime was not issued by this code: treat it as forged.
  if (expiresAt > now + ADMIN_SESSION_TTL_SECONDS * 1000) return { ok: false, problem: "session_forged" };
  if (expiresAt <= now) return { ok: false, problem: "session_expired" };
  return { ok: true, session: { id, expiresAt } };
}

/**
 * Cookie attributes for a request URL: HttpOnly (no script reads it), SameSite=Strict (never sent cross-site),
 * Path=/admin, and Secure except on a plain-http loopback origin (local development, where browsers would drop it).
 */
export function sessionCookieOptions(requestUrl: string, maxAgeSeconds: number) {
  const url = new URL(requestUrl);
  const loopback = url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  return {
    path: ADMIN_SESSION_PATH,
    httpOnly: true,
    secure: !loopback,
    sameSite: "Strict",
    maxAge: maxAgeSeconds,
  } as const;
}

const keys = new Map<string, Promise<CryptoKey>>();

/** HKDF-SHA256 from the admin token: the session key is never the token itself, and is derived once per isolate. */
function sessionKey(adminToken: string): Promise<CryptoKey> {
  let key = keys.get(adminToken);
  if (!key) {
    key = crypto.subtle
      .importKey("raw", encode(adminToken), "HKDF", false, ["deriveKey"])
      .then((material) =>
        crypto.subtle.deriveKey(
          { name: "HKDF", hash: "SHA-256", salt: encode("writ-admin-session"), info: encode(KEY_INFO) },
          material,
          { name: "HMAC", hash: "SHA-256", length: 256 },
          false,
          ["sign", "verify"],
        ),
      );
    // One entry: a rotated token replaces the old key rather than piling up.
    keys.clear();
    keys.set(adminToken, key);
  }
  return key;
}

function encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
