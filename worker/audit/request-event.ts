import type { Context } from "hono";
import type { LogFields } from "../../lib/log.ts";
import type { AuditEvent } from "../../schemas/audit.ts";
import type { AppEnv } from "../app-env.ts";
import { auditTypeOf } from "./audit-trail.ts";

/** The request's own audit event, from what the route decided; undefined for routes that are not security events. */
export function requestAuditEvent(c: Context<AppEnv>, outcome: LogFields, status: number): AuditEvent | undefined {
  const type = auditTypeOf(c.req.method, c.req.path, outcome.grant_type, outcome.reason);
  if (!type) return undefined;
  return {
    ...eventBase(c, Date.now()),
    type,
    status,
    ...optional("agent", text(outcome.agent)),
    ...optional("use_case", text(outcome.use_case)),
    ...optional("audience", text(outcome.audience)),
    ...optional("decision", text(outcome.decision) ?? (status < 400 ? "ok" : "error")),
    ...optional("reason", text(outcome.reason)),
    ...optional("detail", (text(outcome.failure) ?? text(outcome.detail) ?? adminDetail(outcome.admin))?.slice(0, 256)),
    ...optional("jti", text(outcome.token_jti)),
    ...optional("approval_id", text(outcome.approval_id)),
    ...optional("approver", text(outcome.approver)),
    ...optional("intent", text(outcome.intent)?.slice(0, 500)),
  };
}

export function eventBase(c: Context<AppEnv>, ts: number): Pick<AuditEvent, "ts" | "request_id" | "ip" | "user_agent"> {
  return {
    ts,
    request_id: c.get("requestId"),
    ...optional("ip", c.req.header("cf-connecting-ip")?.slice(0, 64)),
    ...optional("user_agent", c.req.header("user-agent")?.slice(0, 256)),
  };
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
