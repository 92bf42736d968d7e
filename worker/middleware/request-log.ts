import type { Context, MiddlewareHandler } from "hono";
import { type LogFields, log } from "../../lib/log.ts";
import type { AuditEvent } from "../../schemas/audit.ts";
import type { AppEnv } from "../app-env.ts";
import { recordAudit } from "../audit/audit-trail.ts";
import { eventBase, requestAuditEvent } from "../audit/request-event.ts";

/**
 * Gives each request an id (Cloudflare's Ray ID where present), writes exactly one log line for it and, for
 * security-relevant routes, its audit event(s). The audit write runs after the response (`waitUntil`), so it
 * adds no round trip to the token path; an issued token's own event is written by the agent's ledger together
 * with the token (see issue-token.ts), and is then left out here.
 */
export function requestLog(): MiddlewareHandler<AppEnv> {
  return async function requestLogHandler(c, next) {
    const started = performance.now();
    const requestId = c.req.header("cf-ray") ?? crypto.randomUUID();
    c.set("requestId", requestId);
    c.set("outcome", {});
    c.set("auditExtras", []);
    c.set("auditDelivered", false);
    try {
      await next();
    } finally {
      const outcome = c.get("outcome");
      log(c.res.status >= 500 ? "error" : "info", "request", {
        request_id: requestId,
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ...outcome,
        // Workers freeze timers during pure CPU work, so this is wall time around I/O: good enough to spot slow storage.
        latency_ms: Math.round((performance.now() - started) * 100) / 100,
      });
      const events = auditEvents(c, outcome);
      if (events.length > 0) background(c, recordAudit(c.env, events));
    }
  };
}

/** The request's own event (unless its ledger already wrote it) and any extras the route added. */
function auditEvents(c: Context<AppEnv>, outcome: LogFields): AuditEvent[] {
  const extras = c.get("auditExtras");
  const main = c.get("auditDelivered") ? undefined : requestAuditEvent(c, outcome, c.res.status);
  if (extras.length === 0) return main ? [main] : [];
  const base = eventBase(c, main?.ts ?? Date.now());
  return [...(main ? [main] : []), ...extras.map((extra) => ({ ...base, ...extra }))];
}

/** After the response where the runtime offers it; inline otherwise (a bare app.request in unit tests). */
function background(c: Context<AppEnv>, work: Promise<void>): void {
  try {
    c.executionCtx.waitUntil(work);
  } catch {
    void work;
  }
}
