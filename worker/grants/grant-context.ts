import type { CompiledPolicy } from "../../core/policy/compile-policy.ts";
import type { LogFields } from "../../lib/log.ts";
import type { AuditEvent } from "../../schemas/audit.ts";
import type { AuditExtra } from "../app-env.ts";
import type { WritEnv } from "../env.ts";
import type { ActiveKeys } from "../tokens/signing-keys.ts";

/** What every grant handler needs from the edge: one `now`, the policy, the keys (loaded lazily) and the log line to fill. */
export type GrantContext = {
  env: WritEnv;
  policy: CompiledPolicy;
  issuer: string;
  /** RFC 7523 §3: the issuer identifier or the token endpoint URL. */
  assertionAudiences: readonly string[];
  keys: () => Promise<ActiveKeys>;
  now: Date;
  outcome: LogFields;
  /** Adds an audit event beyond the request's own (e.g. one per approval email). */
  audit: (extra: AuditExtra) => void;
  issuanceAudit: IssuanceAudit;
};

/**
 * The request's own audit event as it will read if a token is issued, so that the agent's ledger writes it in the
 * same transaction as the token (no token without its record, and no second Durable Object call per token);
 * `delivered` then keeps the request log from writing it again.
 */
export type IssuanceAudit = { eventFor: (tokenJti: string) => AuditEvent | undefined; delivered: () => void };
