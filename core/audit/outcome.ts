import type { AuditEvent, AuditEventType } from "../../schemas/audit.ts";

/**
 * What one request did, as its route says it: the one source of the request's log line and of its audit event.
 * Keys are the log line's field names. Ids and codes only: never a token, an assertion, a key or a link token.
 */
export type Outcome = {
  /** Which audit event the request is; absent for requests that are not security events (discovery, assets). */
  event?: AuditEventType;
  decision?: string;
  /** The refusal's reason code. */
  reason?: string;
  /** For identity failures: which check failed (private: log and audit only, never the wire). */
  failure?: string;
  /**
   * Which agent a request that failed to authenticate said it was (its assertion's `iss`/`sub` or `client_id`):
   * UNVERIFIED, so an admin can see who is being impersonated. Never used to route or attribute a record.
   */
  claimed_agent?: string;
  detail?: string;
  agent?: string;
  use_case?: string;
  audience?: string;
  intent?: string;
  token_jti?: string;
  approval_id?: string;
  approver?: string;
  /** Which admin acted: an Access email, "token" or "session". */
  admin?: string;
  /** The request's own event is already in the audit trail (the agent's ledger stored it with the token). */
  recorded?: boolean;
  /** Facts for the log line only. */
  grant_type?: string;
  expires_in?: number;
  /** How many token requests shared the ledger round trip of this one (worker/grants/ledger-issue.ts). */
  ledger_batch?: number;
  active?: boolean;
  by?: string;
  over_limit?: string;
  emails_sent?: number;
  deduplicated?: boolean;
  step_up?: string;
  auth_method?: string;
  problem?: string;
  admin_session?: string;
  approval_status?: string;
  enrolment_link?: string;
  passkey?: string;
};

/** Where and when the request came in: the part of every audit event the route does not decide. */
export type RequestMeta = { request_id: string; ip?: string; user_agent?: string };

/** An audit event a request adds beyond its own (e.g. one per approval email sent). */
export type AuditExtra = Omit<AuditEvent, "ts" | "request_id" | "ip" | "user_agent">;

const MAX_TEXT = 512;

/** The request's own audit event, or undefined when the outcome names none. Pure: `ts` is passed in. */
export function auditEventOf(outcome: Outcome, meta: RequestMeta, status: number, ts: number): AuditEvent | undefined {
  if (!outcome.event) return undefined;
  const event: AuditEvent = { ...eventBase(meta, ts), type: outcome.event, status };
  setText(event, "agent", outcome.agent);
  setText(event, "use_case", outcome.use_case);
  setText(event, "audience", outcome.audience);
  setText(event, "decision", nonEmpty(outcome.decision) ?? (status < 400 ? "ok" : "error"));
  setText(event, "reason", outcome.reason);
  const admin = nonEmpty(outcome.admin);
  setText(event, "detail", (nonEmpty(outcome.failure) ?? nonEmpty(outcome.detail) ?? (admin && `admin=${admin}`))?.slice(0, 256));
  setText(event, "jti", outcome.token_jti);
  setText(event, "approval_id", outcome.approval_id);
  setText(event, "approver", outcome.approver);
  setText(event, "intent", outcome.intent?.slice(0, 500));
  return event;
}

/** The part of an audit event that says where the request came from, for extras as for the request's own event. */
export function eventBase(meta: RequestMeta, ts: number): Pick<AuditEvent, "ts" | "request_id" | "ip" | "user_agent"> {
  const base: Pick<AuditEvent, "ts" | "request_id" | "ip" | "user_agent"> = { ts, request_id: meta.request_id };
  if (meta.ip) base.ip = meta.ip.slice(0, 64);
  if (meta.user_agent) base.user_agent = meta.user_agent.slice(0, 256);
  return base;
}

/** The outcome's fields for the request's log line (the audit-only markers left out). */
export function logFieldsOf(outcome: Outcome): Record<string, string | number | boolean | undefined> {
  const { event: _event, recorded: _recorded, ...fields } = outcome;
  return fields;
}

type TextKey = "agent" | "use_case" | "audience" | "decision" | "reason" | "detail" | "jti" | "approval_id" | "approver" | "intent";

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.length === 0 ? undefined : value;
}

function setText(event: AuditEvent, key: TextKey, value: string | undefined): void {
  if (value !== undefined && value.length > 0) event[key] = value.slice(0, MAX_TEXT);
}
