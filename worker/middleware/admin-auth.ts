import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { sameSecret } from "../../lib/crypto.ts";
import { log } from "../../lib/log.ts";
import { ADMIN_SESSION_COOKIE, verifyAdminSession } from "../admin/admin-session.ts";
import type { AppEnv } from "../app-env.ts";
import {
  ACCESS_JWT_HEADER,
  type AccessKeySource,
  accessSettings,
  remoteAccessKeys,
  verifyAccessIdentity,
} from "../approvals/access-jwt.ts";
import { bearerToken } from "../http/bearer.ts";

const CHALLENGE = 'Bearer realm="writ-admin"';

export type AdminAuthOptions = {
  accessKeys?: AccessKeySource;
  /**
   * Also accept the admin page's session cookie (worker/admin/admin-session.ts), on GET and HEAD only and only
   * without an Authorization header: a cookie rides along with cross-site requests, so it must never authorise
   * an action that changes state. Off by default: every other admin route takes the bearer secret or Access only.
   */
  session?: boolean;
  /** Answers a 401 refusal in place of the JSON error (the admin page shows its sign-in form). It is logged either way. */
  onRefused?: (c: Context<AppEnv>, why: string) => Response | Promise<Response>;
};

/**
 * /admin/* accepts `Authorization: Bearer <ADMIN_TOKEN>` (compared over SHA-256 digests with
 * `crypto.subtle.timingSafeEqual`, so neither content nor length leaks through timing) or a Cloudflare Access
 * JWT for the admin application (ADMIN_ACCESS_AUD) whose email is one of ADMIN_EMAILS. With neither
 * configured the admin API is closed (503), never open. Every refusal is logged. Only where a route opts in
 * (`session: true`, the admin page) does a GET also accept the browser session cookie that POST /admin/session sets.
 */
export function adminAuth(options: AdminAuthOptions = {}): MiddlewareHandler<AppEnv> {
  const accessKeys = options.accessKeys ?? remoteAccessKeys;
  return async function adminAuthHandler(c, next) {
    const access = adminAccess(c);
    if (!c.env.ADMIN_TOKEN && !access) {
      log("error", "admin_token_unset", { path: c.req.path });
      return c.json({ error: "temporarily_unavailable", error_description: "the admin API is not configured" }, 503, {
        "Cache-Control": "no-store",
      });
    }
    const assertion = c.req.header(ACCESS_JWT_HEADER);
    if (access && assertion) {
      const identity = await verifyAccessIdentity(assertion, { settings: access.settings, keys: accessKeys, now: new Date() });
      if (identity.ok && access.emails.has(identity.email.toLowerCase())) {
        Object.assign(c.get("outcome"), { admin: identity.email });
        return next();
      }
      return refuse(c, identity.ok ? "access_email_not_admin" : identity.problem, options.onRefused);
    }
    const authorization = c.req.header("authorization");
    const cookie =
      options.session && authorization === undefined && isSafeMethod(c.req.method) ? getCookie(c, ADMIN_SESSION_COOKIE) : undefined;
    if (cookie !== undefined) {
      const check = await verifyAdminSession(cookie, c.env.ADMIN_TOKEN ?? "", Date.now());
      if (!check.ok) return refuse(c, check.problem, options.onRefused);
      Object.assign(c.get("outcome"), { admin: "session", admin_session: check.session.id });
      return next();
    }
    const presented = bearerToken(authorization);
    if (presented === undefined) return refuse(c, "no_credential", options.onRefused);
    if (!c.env.ADMIN_TOKEN || !(await sameSecret(presented, c.env.ADMIN_TOKEN))) return refuse(c, "bad_token", options.onRefused);
    Object.assign(c.get("outcome"), { admin: "token" });
    return next();
  };
}

function adminAccess(c: Context<AppEnv>) {
  const settings = accessSettings({ ACCESS_TEAM_DOMAIN: c.env.ACCESS_TEAM_DOMAIN, ACCESS_AUD: c.env.ADMIN_ACCESS_AUD });
  const emails = new Set(
    (c.env.ADMIN_EMAILS ?? "")
      .split(",")
      .map((e) => e.trim().toLowerCase())
      .filter(Boolean),
  );
  return settings && emails.size > 0 ? { settings, emails } : undefined;
}

function isSafeMethod(method: string): boolean {
  return method === "GET" || method === "HEAD";
}

function refuse(c: Context<AppEnv>, why: string, onRefused?: AdminAuthOptions["onRefused"]): Response | Promise<Response> {
  log("warn", "admin_auth_failed", { request_id: c.get("requestId"), path: c.req.path, why });
  Object.assign(c.get("outcome"), { decision: "denied", reason: `admin_auth:${why}` });
  if (onRefused) return onRefused(c, why);
  const error = why === "no_credential" ? "invalid_request" : "invalid_token";
  const challenge = why === "no_credential" ? CHALLENGE : `${CHALLENGE}, error="invalid_token"`;
  const description =
    why === "no_credential"
      ? "admin bearer token required"
      : why === "bad_token"
        ? "admin bearer token rejected"
        : why.startsWith("session_")
          ? "admin session rejected"
          : "admin Access identity rejected";
  return c.json({ error, error_description: description }, 401, {
    "WWW-Authenticate": challenge,
    "Cache-Control": "no-store",
  });
}
