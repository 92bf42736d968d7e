import type { Context, MiddlewareHandler } from "hono";
import { clientNetwork } from "../../core/audit/client-network.ts";
import { noiseOf } from "../../core/audit/noise.ts";
import { auditEventOf, eventBase, logFieldsOf, type RequestMeta } from "../../core/audit/outcome.ts";
import { log } from "../../lib/log.ts";
import type { AuditEvent } from "../../schemas/audit.ts";
import type { AppEnv } from "../app-env.ts";
import { recordAudit } from "../audit/audit-trail.ts";
import { recordNoise } from "../audit/noise-trail.ts";
import { readConfig } from "../config.ts";

/**
 * A request id is echoed in logs, audit records and `X-Request-Id`, so it is taken from `CF-Ray` only when it looks
 * like one (Cloudflare's are hex, a dash and a data centre code): a client that reaches the Worker some other way
 * (or a test) can send anything there, and 10 kB of quotes and newlines is no id. Anything else gets a fresh UUID.
 */
const RAY_ID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * Gives each request an id (Cloudflare's Ray ID where present), one clock and the configuration, then writes
 * exactly one log line for it and, where the route named an audit event, that event and any extras. The audit
 * write runs after the response (`waitUntil`), so it adds no round trip; an issued token's own event is written
 * by the agent's ledger together with the token (`outcome.recorded`), and is then left out here. A refusal before
 * anyone was identified (`core/audit/noise.ts`) is counted in its day's NoiseCounter instead of recorded.
 */
export function requestLog(): MiddlewareHandler<AppEnv> {
  return async function requestLogHandler(c, next) {
    const started = performance.now();
    const ray = c.req.header("cf-ray");
    const requestId = ray !== undefined && RAY_ID.test(ray) ? ray : crypto.randomUUID();
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
      const noise = noiseOf(outcome, clientNetwork(c.req.header("cf-connecting-ip")), Date.now());
      if (noise) background(c, recordNoise(c.env, noise));
      const events = auditEvents(c, noise === undefined);
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

/** The request's own event (unless its ledger already stored it, or it was counted as noise) and any extras the route added. */
function auditEvents(c: Context<AppEnv>, ownEvent: boolean): AuditEvent[] {
  const outcome = c.get("outcome");
  const meta = requestMeta(c);
  const ts = Date.now();
  const main = outcome.recorded || !ownEvent ? undefined : auditEventOf(outcome, meta, c.res.status, ts);
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
