import { type Context, Hono, type MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { CompiledPolicy } from "../../core/policy/compile-policy.ts";
import type { AdminAuthFailure } from "../../core/refusals.ts";
import { sameSecret } from "../../lib/crypto.ts";
import { log } from "../../lib/log.ts";
import {
  ADMIN_SESSION_COOKIE,
  ADMIN_SESSION_TTL_SECONDS,
  issueAdminSession,
  sessionCookieOptions,
  verifyAdminSession,
} from "../admin/admin-session.ts";
import { switchAgent } from "../admin/agent-switch.ts";
import { adminFormAuth } from "../admin/form-auth.ts";
import { loadOverview } from "../admin/load-overview.ts";
import { refuseAdminPage } from "../admin/refuse-admin-page.ts";
import { sameOrigin } from "../admin/same-origin.ts";
import type { AppEnv } from "../app-env.ts";
import { ACCESS_JWT_HEADER, type AccessKeySource } from "../approvals/access-jwt.ts";
import { note } from "../audit/note.ts";
import { readForm } from "../http/read-form.ts";
import { refusalFields } from "../http/refuse.ts";
import { configOf } from "../http/request-context.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { pageSecurityHeaders } from "../middleware/page-security-headers.ts";
import { renderOverview } from "../pages/admin-page.tsx";
import { renderSignIn, type SignInReason } from "../pages/admin-sign-in-page.tsx";
import type { RenderedPage } from "../pages/layout.tsx";
import { activePolicy } from "../policy/active-policy.ts";

export type AdminViewOptions = {
  /** Where Cloudflare Access keys come from; tests pass a local key set. */
  accessKeys?: AccessKeySource;
  /** Tests substitute a policy; default: the deployed one. */
  policy?: CompiledPolicy;
  /** Epoch milliseconds; tests move the clock. */
  now?: () => number;
};

const CHALLENGE = 'Bearer realm="writ-admin"';

/**
 * The admin view, mounted at "/":
 * - `GET /admin`: agents and their budgets, pending approval requests and recent decisions, for an admin behind
 *   Cloudflare Access, with the bearer secret, or with the session cookie below; anyone else gets a sign-in form.
 * - `POST /admin/session` (form: `token`): trades the admin token for a one-hour session cookie (HttpOnly,
 *   SameSite=Strict, Path=/admin) that `GET /admin` and the page's own forms below accept, nothing else.
 * - `POST /admin/switch/:id/disable` (form: `reason`) and `/enable`: the kill switch buttons. The same switch and
 *   audit record as the JSON API's (`admin/agent-switch.ts`); a browser's credential counts only from this page
 *   (`admin/form-auth.ts`). Answers 303 back to the overview, which shows the agent's state as the ledger has it.
 * - `POST /admin/sign-out`: drops the cookie.
 *
 * @example
 * app.route("/", adminViewRoutes());
 */
export function adminViewRoutes(options: AdminViewOptions = {}): Hono<AppEnv> {
  const policy = options.policy ?? activePolicy;
  const clock = options.now ?? Date.now;
  const routes = new Hono<AppEnv>();
  // Without an admin token only Access can sign anyone in: no point offering the token form.
  const signInAgain = (c: Context<AppEnv>, why: AdminAuthFailure) =>
    respond(c, renderSignIn(!configOf(c).adminToken && why === "no_credential" ? "token_not_configured" : signInReason(why)));
  const auth = adminAuth({ ...(options.accessKeys ? { accessKeys: options.accessKeys } : {}), session: true, onRefused: signInAgain });

  routes.get("/admin", pageSecurityHeaders(), signInWhenAnonymous(), auth, async (c) => {
    const admin = c.get("admin");
    const overview = await loadOverview(c.env, policy, clock());
    const switched = c.req.query("switched");
    return respond(
      c,
      renderOverview({
        overview,
        admin: admin === "token" ? "the admin token" : admin === "session" ? "the admin token (browser session)" : String(admin),
        signOut: admin === "session",
        ...(switched === undefined ? {} : { switched }),
      }),
    );
  });

  const formAuth = adminFormAuth({ ...(options.accessKeys ? { accessKeys: options.accessKeys } : {}), onRefused: signInAgain });
  for (const [action, direction] of [
    ["disable", "off"],
    ["enable", "on"],
  ] as const) {
    routes.post(`/admin/switch/:id/${action}`, pageSecurityHeaders(), formAuth, async (c) => {
      const form = await readForm(c.req.raw);
      if (!form.ok) return refuseAdminPage(c, form.reason);
      const switched = await switchAgent(
        c,
        policy,
        c.req.param("id"),
        direction,
        direction === "off" ? form.value.single.reason : undefined,
      );
      if (!switched.ok) return refuseAdminPage(c, switched.reason);
      const agent = encodeURIComponent(switched.value.agent);
      // 303: the browser follows with a GET, so a reload shows the state again instead of throwing the switch twice.
      return c.redirect(`/admin?switched=${agent}#agent-${agent}`, 303);
    });
  }

  routes.post("/admin/session", pageSecurityHeaders(), async (c) => {
    // Login CSRF: a sign-in (or sign-out) form posted from another site is refused.
    if (!sameOrigin(c)) return signInRefused(c, "cross_origin");
    const expected = configOf(c).adminToken;
    if (!expected) return signInRefused(c, "token_not_configured");
    const form = await readForm(c.req.raw);
    const presented = form.ok ? form.value.single.token : undefined;
    if (!presented || !(await sameSecret(presented, expected))) return signInRefused(c, "bad_token");
    const { value, session } = await issueAdminSession(expected, clock());
    setCookie(c, ADMIN_SESSION_COOKIE, value, sessionCookieOptions(c.req.url, ADMIN_SESSION_TTL_SECONDS));
    note(c, { admin: "token", admin_session: session.id, decision: "admin_signed_in" });
    // 303: the browser follows with a GET, so a reload never re-posts the token.
    return c.redirect("/admin", 303);
  });

  routes.post("/admin/sign-out", pageSecurityHeaders(), async (c) => {
    if (!sameOrigin(c)) return signInRefused(c, "cross_origin");
    const { path, secure, sameSite, httpOnly } = sessionCookieOptions(c.req.url, 0);
    const cookie = getCookie(c, ADMIN_SESSION_COOKIE);
    deleteCookie(c, ADMIN_SESSION_COOKIE, { path, secure, sameSite, httpOnly });
    // Only a real session's end is an admin action worth a record; anyone can post this form with nothing to end.
    const check = cookie === undefined ? undefined : await verifyAdminSession(cookie, configOf(c).adminToken ?? "", clock());
    if (check?.ok) note(c, { admin: "session", admin_session: check.session.id, decision: "admin_signed_out" });
    else note(c, { event: undefined, decision: "admin_signed_out" });
    return respond(c, renderSignIn("signed_out"));
  });

  return routes;
}

/**
 * A browser that presents nothing at all gets the sign-in form straight away: that is not a failed sign-in, so
 * it is neither logged as one nor audited as one; nor is it any audit event at all (anyone can load the form as
 * often as they like, and one durable record each would be a way to fill the trail). Its log line stays.
 * Anything presented goes through adminAuth.
 */
function signInWhenAnonymous(): MiddlewareHandler<AppEnv> {
  return async function signInWhenAnonymousHandler(c, next) {
    const presented =
      c.req.header("authorization") !== undefined ||
      c.req.header(ACCESS_JWT_HEADER) !== undefined ||
      getCookie(c, ADMIN_SESSION_COOKIE) !== undefined;
    // With no admin token configured adminAuth has the answer: Access only, or closed (503).
    if (presented || !configOf(c).adminToken) return next();
    note(c, { event: undefined, decision: "sign_in_required" });
    return respond(c, renderSignIn("no_credential"));
  };
}

function signInReason(why: string): SignInReason {
  if (why === "no_credential" || why === "bad_token" || why === "session_expired") return why;
  if (why.startsWith("session_")) return "session_invalid";
  return "access_rejected";
}

/** A sign-in that failed is an admin authentication failure: logged and audited like adminAuth's own. */
function signInRefused(c: Context<AppEnv>, why: "bad_token" | "cross_origin" | "token_not_configured"): Response {
  log("warn", "admin_auth_failed", { request_id: c.get("requestId"), path: c.req.path, why });
  note(c, refusalFields({ code: "admin_auth", why }));
  return respond(c, renderSignIn(why));
}

function respond(c: Context<AppEnv>, page: RenderedPage): Response {
  const headers: Record<string, string> = page.status === 401 ? { "WWW-Authenticate": CHALLENGE } : {};
  return c.html(page.html, page.status, headers);
}
