import type { Context } from "hono";
import type { AppEnv } from "../app-env.ts";

/**
 * Whether a request comes from the broker's own pages, as far as a browser says: the CSRF check for every admin
 * request that a browser's ambient credential (the Cloudflare Access cookie, the admin session cookie) could
 * authorise. Browsers say where a request comes from in Sec-Fetch-Site, which a page cannot forge; without it, by
 * Origin. The admin pages send no Referer, so a browser posts their forms with `Origin: null`: that passes only
 * with Sec-Fetch-Site: same-origin. A request with neither header is no browser's (a script, curl) and carries no
 * credential it did not choose to send.
 *
 * @example if (!sameOrigin(c)) return refuse(c, { code: "cross_site_request" });
 */
export function sameOrigin(c: Context<AppEnv>): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined) return site === "same-origin";
  const origin = c.req.header("origin");
  return origin === undefined || origin === new URL(c.req.url).origin;
}
