import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { AdminAuthFailure, Reason } from "../../core/refusals.ts";
import { sameSecret } from "../../lib/crypto.ts";
import { log } from "../../lib/log.ts";
import { ADMIN_SESSION_COOKIE, verifyAdminSession } from "../admin/admin-session.ts";
import { sameOrigin } from "../admin/same-origin.ts";
import type { AppEnv } from "../app-env.ts";
import { ACCESS_JWT_HEADER, type AccessKeySource, remoteAccessKeys, verifyAccessIdentity } from "../approvals/access-jwt.ts";
import { note } from "../audit/note.ts";
import { bearerToken } from "../http/bearer.ts";
import { refusalFields, refuse } from "../http/refuse.ts";
import { configOf, nowOf } from "../http/request-context.ts";

export type AdminAuthOptions = {
  accessKeys?: AccessKeySource;
  /**
   * Also accept the admin page's session cookie (worker/admin/admin-session.ts), on GET and HEAD only and only
   * without an Authorization header: a cookie rides along with cross-site requests, so it must never authorise
   * an action that changes state. Off by default: every other admin route takes the bearer secret or Access only.
   */
  session?: boolean;
  /** Answers a 401 refusal in place of the JSON error (the admin page shows its sign-in form). It is logged either way. */
  onRefused?: (c: Context<AppEnv>, why: AdminAuthFailure) => Response | Promise<Response>;
};

/**
 * /admin/* accepts `Authorization: Bearer <ADMIN_TOKEN>` (compared over SHA-256 digests with
 * `crypto.subtle.timingSafeEqual`, so neither content nor length leaks through timing) or a Cloudflare Access
 * JWT for the admin application (ADMIN_ACCESS_AUD) whose email is one of ADMIN_EMAILS. With neither
 * configured the admin API is closed (503), never open. Every refusal is logged. Only where a route opts in
 * (`session: true`, the admin page) does a GET also accept the browser session cookie that POST /admin/session sets.
 *
 * CSRF: Access and the session are ambient credentials (a cookie the browser sends with any request to this origin,
 * cross-site ones included), so a request they authorise may change state only when it comes from the broker's own
 * pages (`sameOrigin`). The bearer token is sent only by a caller that chose to send it: no check needed.
 */
export function adminAuth(options: AdminAuthOptions = {}): MiddlewareHandler<AppEnv> {
  const accessKeys = options.accessKeys ?? remoteAccessKeys;
  return async function adminAuthHandler(c, next) {
    const config = configOf(c);
    const access = config.adminAccess;
    if (!config.adminToken && !access) {
      log("error", "admin_token_unset", { path: c.req.path });
      return refuse(c, { code: "admin_unconfigured" });
    }
    const assertion = c.req.header(ACCESS_JWT_HEADER);
    if (access && assertion) {
      const identity = await verifyAccessIdentity(assertion, { settings: access.settings, keys: accessKeys, now: nowOf(c) });
      if (identity.ok && access.emails.has(identity.email.toLowerCase())) {
        signedIn(c, identity.email);
        return ambientAllowed(c) ? next() : refuseCrossSite(c);
      }
      return refuseAdmin(c, identity.ok ? "access_email_not_admin" : identity.problem, options.onRefused);
    }
    const authorization = c.req.header("authorization");
    const cookie =
      options.session && authorization === undefined && isSafeMethod(c.req.method) ? getCookie(c, ADMIN_SESSION_COOKIE) : undefined;
    if (cookie !== undefined) {
      const check = await verifyAdminSession(cookie, config.adminToken ?? "", nowOf(c).getTime());
      if (!check.ok) return refuseAdmin(c, check.problem, options.onRefused);
      signedIn(c, "session", check.session.id);
      return ambientAllowed(c) ? next() : refuseCrossSite(c);
    }
    const presented = bearerToken(authorization);
    if (presented === undefined) return refuseAdmin(c, "no_credential", options.onRefused);
    if (!config.adminToken || !(await sameSecret(presented, config.adminToken))) return refuseAdmin(c, "bad_token", options.onRefused);
    signedIn(c, "token");
    return next();
  };
}

/** Who the admin is, for the route (`c.var.admin`) and for the record. */
function signedIn(c: Context<AppEnv>, admin: string, session?: string): void {
  c.set("admin", admin);
  note(c, session === undefined ? { admin } : { admin, admin_session: session });
}

function isSafeMethod(method: string): boolean {
  return method === "GET" || method === "HEAD";
}

/** An ambient credential authorises reading from anywhere, and changing state only from the broker's own pages. */
function ambientAllowed(c: Context<AppEnv>): boolean {
  return isSafeMethod(c.req.method) || sameOrigin(c);
}

/** The admin's browser was made to send this (CSRF): refused, and recorded under the admin's name so they see it. */
function refuseCrossSite(c: Context<AppEnv>): Response {
  log("warn", "admin_cross_site_refused", { request_id: c.get("requestId"), path: c.req.path, admin: c.get("admin") });
  return refuse(c, { code: "cross_site_request" });
}

/** Every admin authentication failure is logged and audited; the admin page answers with its sign-in form instead. */
function refuseAdmin(c: Context<AppEnv>, why: AdminAuthFailure, onRefused?: AdminAuthOptions["onRefused"]): Response | Promise<Response> {
  log("warn", "admin_auth_failed", { request_id: c.get("requestId"), path: c.req.path, why });
  const reason: Reason = { code: "admin_auth", why };
  if (!onRefused) return refuse(c, reason);
  note(c, refusalFields(reason));
  return onRefused(c, why);
}
