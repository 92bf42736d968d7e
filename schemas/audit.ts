import * as z from "zod";

/** Everything an auditor asks about: who got access to what, why, approved by whom, and what they did with it. */
export const AUDIT_EVENT_TYPES = [
  "token_request",
  "ciba_request",
  "ciba_poll",
  "approval_email",
  "approval_view",
  "approval_decision",
  "passkey_enrolment",
  "usage_report",
  "introspection",
  "revocation",
  "admin_action",
  "admin_auth_failure",
  /** A verified leaked-key report quarantined an agent (POST /keys/report); forged reports are not recorded. */
  "key_report",
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

const text = (max: number) => z.string().max(max);

/** One audit event as recorded. Never a secret, a link token or a whole access token: only ids and codes. */
export const AuditEventSchema = z.object({
  /** Epoch milliseconds. */
  ts: z.number().int(),
  request_id: text(128),
  type: z.enum(AUDIT_EVENT_TYPES),
  agent: text(128).optional(),
  use_case: text(128).optional(),
  audience: text(512).optional(),
  decision: text(64).optional(),
  reason: text(128).optional(),
  detail: text(256).optional(),
  jti: text(128).optional(),
  approval_id: text(128).optional(),
  approver: text(320).optional(),
  ip: text(64).optional(),
  user_agent: text(256).optional(),
  intent: text(500).optional(),
  status: z.number().int().optional(),
});
export type AuditEvent = z.infer<typeof AuditEventSchema>;

/** A stored event: its place in its shard's hash chain. */
export const AuditRecordSchema = AuditEventSchema.extend({
  shard: z.string(),
  seq: z.number().int().positive(),
  prev_hash: z.string(),
  hash: z.string(),
});
export type AuditRecord = z.infer<typeof AuditRecordSchema>;

/** GET /admin/audit query parameters. */
export const AuditQuerySchema = z
  .object({
    agent: text(128).optional(),
    use_case: text(128).optional(),
    decision: text(64).optional(),
    type: z.enum(AUDIT_EVENT_TYPES).optional(),
    /** ISO 8601 date-time or epoch ms; defaults: the last 24 hours. */
    from: z.string().max(64).optional(),
    to: z.string().max(64).optional(),
    cursor: text(512).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();
export type AuditQuery = z.infer<typeof AuditQuerySchema>;
