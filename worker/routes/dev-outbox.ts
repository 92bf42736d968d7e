import { Hono } from "hono";
import type { DevOutbox, OutboxMail } from "../../durable-objects/dev-outbox.ts";
import type { AppEnv } from "../app-env.ts";
import { devOutbox } from "../approvals/approval-email.ts";
import { pageSecurityHeaders } from "../middleware/page-security-headers.ts";
import { renderDevOutbox } from "../pages/dev-outbox-page.tsx";

const DEFAULT_LIMIT = 50;

type DevOutboxEnv = { Bindings: AppEnv["Bindings"]; Variables: AppEnv["Variables"] & { devOutbox: DurableObjectStub<DevOutbox> } };

/**
 * GET /dev/outbox (a page) and GET /dev/outbox.json (for scripts and tests): the approval mail a local broker
 * sent. Mounted with `app.route("/dev", devOutboxRoutes())`; outside local development (DEV_OUTBOX is not
 * "true") both answer 404 exactly like an unknown endpoint, so production does not even reveal them.
 *
 * Query parameters of both: `to` (one approver), `approval_id` (one request), `limit` (default 50, at most 200).
 *
 * @example
 * app.route("/dev", devOutboxRoutes());
 * const { mails } = await (await fetch(`${broker}/dev/outbox.json?to=alice@example.com`)).json();
 */
export function devOutboxRoutes(): Hono<DevOutboxEnv> {
  const routes = new Hono<DevOutboxEnv>();
  // First, so that where the outbox is off nothing below runs, not even the page's security headers.
  routes.use(async function devOutboxOnly(c, next) {
    const outbox = devOutbox(c.env);
    if (outbox === undefined) return c.notFound();
    c.set("devOutbox", outbox);
    await next();
  });
  routes.get("/outbox.json", async (c) =>
    c.json({ mails: await listed(c.get("devOutbox"), c.req.query()) }, 200, { "Cache-Control": "no-store" }),
  );
  // The page lists live link tokens: the approval pages' lockdown (CSP, no-store, no Referer, no framing).
  routes.get("/outbox", pageSecurityHeaders(), async (c) => c.html(renderDevOutbox(await listed(c.get("devOutbox"), c.req.query())).html));
  return routes;
}

async function listed(outbox: DurableObjectStub<DevOutbox>, query: Record<string, string>): Promise<OutboxMail[]> {
  const limit = Number.parseInt(query.limit ?? "", 10);
  return outbox.list(Number.isNaN(limit) ? DEFAULT_LIMIT : limit, { to: query.to, approvalId: query.approval_id });
}
