import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { pageSecurityHeaders } from "../middleware/page-security-headers.ts";
import ADMIN_CSS from "../pages/assets/admin.css";
import APPROVAL_JS from "../pages/assets/approval.js";
import WRIT_CSS from "../pages/assets/writ.css";
import { SCRIPT_PATH, STYLESHEET_PATH } from "../pages/layout.tsx";

/**
 * The pages' only stylesheet and script (worker/pages/assets/, bundled as text by wrangler.toml's module rules),
 * served from the broker's own origin so the pages' CSP can forbid inline code (`script-src 'self'; style-src
 * 'self'`). They hold no secret and may be cached. The two stylesheets go out as one: one request per page.
 */
export const PAGE_ASSETS = {
  [STYLESHEET_PATH]: { body: WRIT_CSS + ADMIN_CSS, type: "text/css; charset=utf-8" },
  [SCRIPT_PATH]: { body: APPROVAL_JS, type: "text/javascript; charset=utf-8" },
} as const;

/** Mounted at "/": GET /assets/approval.css and /assets/approval.js. */
export function pageAssetRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/assets/*", pageSecurityHeaders({ cacheControl: "public, max-age=3600" }));
  for (const [path, asset] of Object.entries(PAGE_ASSETS)) {
    app.get(path, (c) => c.body(asset.body, 200, { "Content-Type": asset.type }));
  }
  return app;
}
