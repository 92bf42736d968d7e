import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { AdminAuthFailure } from "../../core/refusals.ts";
import { log } from "../../lib/log.ts";
import type { AppEnv } from "../app-env.ts";
import { ACCESS_JWT_HEADER, type AccessKeySource } from "../approvals/access-jwt.ts";
import { note } from "../audit/note.ts";
import { refusalFields } from "../http/refuse.ts";
import { configOf, nowOf } from "../http/request-context.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { ADMIN_SESSION_COOKIE, verifyAdminSession } from "./admin-session.ts";
import { refuseAdminPage } from "./refuse-admin-page.ts";
import { sameOrigin } from "./same-origin.ts";

export type AdminFormAuthOptions = {
  accessKeys?: AccessKeySource;
  /** The page a refused credential gets (the sign-in form); logged and recorded either way. */
  onRefused: (c: Context<AppEnv>, why: AdminAuthFailure) => Response | Promise<Response>;
};

/**
 * Who may post the admin page's forms (the kill switch buttons): the admin page's own session cookie, which
 * `adminAuth` accepts for reading only, is accepted here for these actions too, but only from the broker's own page
 * (`sameOrigin`: Sec-Fetch-Site, else Origin). The cookie is SameSite=Strict, so a browser does not send it
 * cross-site in the first place; the origin check also stops a sibling site (same-site, other origin). Any other
 * credential (Access, the bearer token) goes through `adminAuth` unchanged, with its own cross-site check for Access.
 * The credential is checked before the origin, so a forged cross-site post without one leaves no durable record.
 */
export function adminFormAuth(options: AdminFormAuthOptions): MiddlewareHandler<AppEnv> {
  const others = adminAuth({ ...(options.accessKeys ? { accessKeys: options.accessKeys } : {}), onRefused: options.onRefused });
  return async function adminFormAuthHandler(c, next) {
    const otherCredential = c.req.header("authorization") !== undefined || c.req.header(ACCESS_JWT_HEADER) !== undefined;
    const cookie = otherCredential ? undefined : getCookie(c, ADMIN_SESSION_COOKIE);
    if (cookie === undefined) return others(c, next);
    const check = await verifyAdminSession(cookie, configOf(c).adminToken ?? "", nowOf(c).getTime());
    if (!check.ok) {
      log("warn", "admin_auth_failed", { request_id: c.get("requestId"), path: c.req.path, why: check.problem });
      note(c, refusalFields({ code: "admin_auth", why: check.problem }));
      return options.onRefused(c, check.problem);
    }
    c.set("admin", "session");
    note(c, { admin: "session", admin_session: check.session.id });
    if (!sameOrigin(c)) {
      log("warn", "admin_cross_site_refused", { request_id: c.get("requestId"), path: c.req.path, admin: "session" });
      return refuseAdminPage(c, { code: "cross_site_request" });
    }
    return next();
  };
}
