import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { bearerToken, sameSecret } from "../http/bearer.ts";
import { log } from "../log.ts";

const CHALLENGE = 'Bearer realm="writ-admin"';

/**
 * `Authorization: Bearer <ADMIN_TOKEN>` for /admin/*. The comparison runs over SHA-256 digests with
 * `crypto.subtle.timingSafeEqual`, so neither the token's content nor its length leaks through timing.
 * An unset ADMIN_TOKEN is misconfiguration: 503 and an error line, never an open admin API.
 */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async function adminAuthHandler(c, next) {
    const expected = c.env.ADMIN_TOKEN;
    if (!expected) {
      log("error", "admin_token_unset", { path: c.req.path });
      return c.json({ error: "temporarily_unavailable", error_description: "the admin API is not configured" }, 503, {
        "Cache-Control": "no-store",
      });
    }
    const presented = bearerToken(c.req.header("authorization"));
    if (presented === undefined)
      return c.json({ error: "invalid_request", error_description: "admin bearer token required" }, 401, {
        "WWW-Authenticate": CHALLENGE,
        "Cache-Control": "no-store",
      });
    if (!(await sameSecret(presented, expected)))
      return c.json({ error: "invalid_token", error_description: "admin bearer token rejected" }, 401, {
        "WWW-Authenticate": `${CHALLENGE}, error="invalid_token"`,
        "Cache-Control": "no-store",
      });
    await next();
  };
}
