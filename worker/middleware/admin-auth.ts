import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import {
  ACCESS_JWT_HEADER,
  type AccessKeySource,
  accessSettings,
  remoteAccessKeys,
  verifyAccessIdentity,
} from "../approvals/access-jwt.ts";
import { bearerToken, sameSecret } from "../http/bearer.ts";
import { log } from "../log.ts";

const CHALLENGE = 'Bearer realm="writ-admin"';

export type AdminAuthOptions = { accessKeys?: AccessKeySource };

/**
 * /admin/* accepts `Authorization: Bearer <ADMIN_TOKEN>` (compared over SHA-256 digests with
 * `crypto.subtle.timingSafeEqual`, so neither content nor length leaks through timing) or a Cloudflare Access
 * JWT for the admin application (ADMIN_ACCESS_AUD) whose email is one of ADMIN_EMAILS. With neither
 * configured the admin API is closed (503), never open. Every refusal is logged.
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
      return refuse(c, identity.ok ? "access_email_not_admin" : identity.problem);
    }
    const presented = bearerToken(c.req.header("authorization"));
    if (presented === undefined) return refuse(c, "no_credential");
    if (!c.env.ADMIN_TOKEN || !(await sameSecret(presented, c.env.ADMIN_TOKEN))) return refuse(c, "bad_token");
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

function refuse(c: Context<AppEnv>, why: string): Response {
  log("warn", "admin_auth_failed", { request_id: c.get("requestId"), path: c.req.path, why });
  Object.assign(c.get("outcome"), { decision: "denied", reason: `admin_auth:${why}` });
  const error = why === "no_credential" ? "invalid_request" : "invalid_token";
  const challenge = why === "no_credential" ? CHALLENGE : `${CHALLENGE}, error="invalid_token"`;
  const description =
    why === "no_credential"
      ? "admin bearer token required"
      : why === "bad_token"
        ? "admin bearer token rejected"
        : "admin Access identity rejected";
  return c.json({ error, error_description: description }, 401, {
    "WWW-Authenticate": challenge,
    "Cache-Control": "no-store",
  });
}
