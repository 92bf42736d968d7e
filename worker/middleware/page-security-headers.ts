import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";

/**
 * The approval and enrolment pages hold one-time secrets in their URL and forms, so they are locked down:
 * no inline script or style (CSP), never framed (clickjacking an Approve button), no Referer carrying the
 * link token to another site, never cached by a browser or proxy.
 */
export const PAGE_CSP_DIRECTIVES = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
] as const;

export type PageSecurityOptions = {
  /** Lets the page's own script call back to the broker (the enrolment ceremony fetches its options). */
  connectSelf?: boolean;
  /** Defaults to `no-store`; only static assets (which hold no secret) may be cached. */
  cacheControl?: string;
};

export function pageSecurityHeaders(options: PageSecurityOptions = {}): MiddlewareHandler<AppEnv> {
  const cacheControl = options.cacheControl ?? "no-store";
  if (/[\r\n]/.test(cacheControl)) throw new TypeError("pageSecurityHeaders: cacheControl must be a single header value");
  const csp = [...PAGE_CSP_DIRECTIVES, ...(options.connectSelf ? ["connect-src 'self'"] : [])].join("; ");
  return async function pageSecurityHeadersHandler(c, next) {
    await next();
    // Set after the handler so error pages and 404s get them too.
    const headers = c.res.headers;
    headers.set("Content-Security-Policy", csp);
    headers.set("Referrer-Policy", "no-referrer");
    headers.set("Cache-Control", cacheControl);
    headers.set("X-Content-Type-Options", "nosniff");
    headers.set("X-Frame-Options", "DENY");
    headers.set("Cross-Origin-Opener-Policy", "same-origin");
    headers.set("Cross-Origin-Resource-Policy", "same-origin");
  };
}
