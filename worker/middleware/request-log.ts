import type { Context, MiddlewareHandler } from "hono";
import { auditEventOf, eventBase, logFieldsOf, type RequestMeta } from "../../core/audit/outcome.ts";
import { log } from "../../lib/log.ts";
import type { AuditEvent } from "../../schemas/audit.ts";
import type { AppEnv } from "../app-env.ts";
import { recordAudit } from "../audit/audit-trail.ts";
import { readConfig } from "../config.ts";

/** A request id is echoed in logs and audit records; a client-chosen Ray ID longer than this is not Cloudflare's. */
const MAX_REQUEST_ID_CHARS = 64;

/**
 * Gives each request an id (Cloudflare's Ray ID where present), one clock and the configuration, then writes
 * exactly one log line for it and, where the route named an audit event, that event and any extras. The audit
 * write runs after the response (`waitUntil`), so it adds no round trip; an issued token's own event is written
 * by the agent's ledger together with the token (`outcome.recorded`), and is then left out here.
 */
export function requestLog(): MiddlewareHandler<AppEnv> {
  return async function requestLogHandler(c, next) {
    const started = performance.now();
    const requestId = c.req.header("cf-ray")?.slice(0, MAX_REQUEST_ID_CHARS) || crypto.randomUUID();
    c.set("requestId", requestId);
    c.set("now", new Date());
    c.set("outcome", {});
    c.set("auditExtras", []);
    // Misconfiguration throws here, before the route runs: a 500 and a loud log line, never blamed on the client.
    c.set("config", readConfig(c.env));
    try {
      await next();
    } finally {
      const outcome = c.get("outcome");
      log(c.res.status >= 500 ? "error" : "info", "request", {
        request_id: requestId,
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ...logFieldsOf(outcome),
        // Workers freeze timers during pure CPU work, so this is wall time around I/O: good enough to spot slow storage.
        latency_ms: Math.round((performance.now() - started) * 100) / 100,
      });
      const events = auditEvents(c);
      if (events.length > 0) background(c, recordAudit(c.env, events));
    }
  };
}

/** Where the request came from, for its audit events. */
export function requestMeta(c: Context<AppEnv>): RequestMeta {
  const meta: RequestMeta = { request_id: c.get("requestId") };
  const ip = c.req.header("cf-connecting-ip");
  const userAgent = c.req.header("user-agent");
  if (ip) meta.ip = ip;
  if (userAgent) meta.user_agent = userAgent;
  return meta;
}

/** The request's own event (unless its ledger already stored it) and any extras the route added. */
function auditEvents(c: Context<AppEnv>): AuditEvent[] {
  const outcome = c.get("outcome");
  const meta = requestMeta(c);
  const ts = Date.now();
  const main = outcome.recorded ? undefined : auditEventOf(outcome, meta, c.res.status, ts);
  const extras = c.get("auditExtras").map((extra) => ({ ...eventBase(meta, ts), ...extra }));
  return main ? [main, ...extras] : extras;
}

/** After the response where the runtime offers it; inline otherwise (a bare app.request in unit tests). */
function background(c: Context<AppEnv>, work: Promise<void>): void {
  try {
    c.executionCtx.waitUntil(work);
  } catch {
    void work;
  }
}
