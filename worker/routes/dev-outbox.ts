import { Hono } from "hono";
import { html } from "hono/html";
import type { DevOutbox, OutboxMail } from "../../durable-objects/dev-outbox.ts";
import type { AppEnv } from "../app-env.ts";
import { devOutbox } from "../approvals/approval-email.ts";
import { pageSecurityHeaders } from "../middleware/page-security-headers.ts";

const DEFAULT_LIMIT = 50;
/** The approval pages' stylesheet (worker/routes/page-assets.ts): the shared page CSP allows no inline style. */
const STYLESHEET = "/assets/approval.css";

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
  routes.get("/outbox", pageSecurityHeaders(), async (c) => c.html(page(await listed(c.get("devOutbox"), c.req.query()))));
  return routes;
}

async function listed(outbox: DurableObjectStub<DevOutbox>, query: Record<string, string>): Promise<OutboxMail[]> {
  const limit = Number.parseInt(query.limit ?? "", 10);
  return outbox.list(Number.isNaN(limit) ? DEFAULT_LIMIT : limit, { to: query.to, approvalId: query.approval_id });
}

function page(mails: OutboxMail[]) {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Writ dev outbox</title>
<link rel="stylesheet" href="${STYLESHEET}">
</head>
<body>
<main>
<p class="eyebrow">Local development only</p>
<h1>Approval mail sent by this broker</h1>
<p class="muted">Production has no outbox. Newest first; the last 200 are kept. Opening a link changes nothing by itself: the decision is made on the page.</p>
${
  mails.length === 0
    ? html`<p class="notice">No approval mail yet.</p>`
    : mails.map(
        (mail) => html`<h2>${mail.subject}</h2>
<dl>
<div class="row"><dt>To</dt><dd>${mail.to}</dd></div>
<div class="row"><dt>Sent (UTC)</dt><dd>${new Date(mail.sentAt).toISOString()}</dd></div>
<div class="row"><dt>Request</dt><dd><code>${mail.approvalId}</code></dd></div>
<div class="row"><dt>Link</dt><dd><a href="${mail.link}" rel="noreferrer">${mail.link}</a></dd></div>
</dl>
<details><summary>Text of the mail</summary><blockquote>${mail.text}</blockquote></details>
`,
      )
}
</main>
</body>
</html>`;
}
