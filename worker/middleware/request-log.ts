import type { Context, MiddlewareHandler } from "hono";
import type { AuditEvent } from "../../schemas/audit.ts";
import type { AppEnv } from "../app-env.ts";
import { auditTypeOf, recordAudit } from "../audit/audit-trail.ts";
import { type LogFields, log } from "../log.ts";

/**
 * Gives each request an id (Cloudflare's Ray ID where present), writes exactly one log line for it and, for
 * security-relevant routes, its audit event(s). The audit write runs after the response (`waitUntil`), so it
 * adds no round trip to the token path.
 */
export function requestLog(): MiddlewareHandler<AppEnv> {
  return async function requestLogHandler(c, next) {
    const started = performance.now();
    const requestId = c.req.header("cf-ray") ?? crypto.randomUUID();
    c.set("requestId", requestId);
    c.set("outcome", {});
    c.set("auditExtras", []);
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
      const events = auditEvents(c, requestId, outcome);
      if (events.length > 0) background(c, recordAudit(c.env, events));
    }
  };
}

function auditEvents(c: Context<AppEnv>, requestId: string, outcome: LogFields): AuditEvent[] {
  const type = auditTypeOf(c.req.method, c.req.path, outcome.grant_type, outcome.reason);
  if (!type) return [];
  const ts = Date.now();
  const base = {
    ts,
    request_id: requestId,
    ...optional("ip", c.req.header("cf-connecting-ip")?.slice(0, 64)),
    ...optional("user_agent", c.req.header("user-agent")?.slice(0, 256)),
  };
  const main: AuditEvent = {
    ...base,
    type,
    status: c.res.status,
    ...optional("agent", text(outcome.agent)),
    ...optional("use_case", text(outcome.use_case)),
    ...optional("audience", text(outcome.audience)),
    ...optional("decision", text(outcome.decision) ?? (c.res.status < 400 ? "ok" : "error")),
    ...optional("reason", text(outcome.reason)),
    ...optional("detail", (text(outcome.failure) ?? text(outcome.detail) ?? adminDetail(outcome.admin))?.slice(0, 256)),
    ...optional("jti", text(outcome.token_jti)),
    ...optional("approval_id", text(outcome.approval_id)),
    ...optional("approver", text(outcome.approver)),
    ...optional("intent", text(outcome.intent)?.slice(0, 500)),
  };
  return [main, ...c.get("auditExtras").map((extra) => ({ ...base, ...extra }))];
}

/** Which admin acted (an Access email or "token"); revocations say who revoked through `by`. */
function adminDetail(admin: unknown): string | undefined {
  return typeof admin === "string" ? `admin=${admin}` : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value.slice(0, 512) : undefined;
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/** After the response where the runtime offers it; inline otherwise (a bare app.request in unit tests). */
function background(c: Context<AppEnv>, work: Promise<void>): void {
  try {
    c.executionCtx.waitUntil(work);
  } catch {
    void work;
  }
}
