import type { AuditExtra, Outcome, RequestMeta } from "../../core/audit/outcome.ts";
import type { TokenRequestProof } from "../../core/dpop/token-request-proof.ts";
import type { CompiledPolicy } from "../../core/policy/compile-policy.ts";
import type { Result } from "../../core/refusals.ts";
import type { AuditEventType } from "../../schemas/audit.ts";
import type { WritEnv } from "../env.ts";
import type { ActiveKeys } from "../tokens/signing-keys.ts";

/** What every grant handler needs from the edge: one `now`, the policy, the keys (loaded lazily), plain data only. */
export type GrantContext = {
  env: WritEnv;
  policy: CompiledPolicy;
  issuer: string;
  /** RFC 7523 §3: the issuer identifier or the token endpoint URL. */
  assertionAudiences: readonly string[];
  keys: () => Promise<ActiveKeys>;
  now: Date;
  /**
   * Which audit event the request is (the route says so) and where it came from: an issued token's record is
   * written by the agent's ledger in the token's own transaction, so no token exists without its record.
   */
  audit: { event: AuditEventType; meta: RequestMeta };
  /** The request's checked DPoP proof (RFC 9449), when it sent one: the token is bound to its key, its jti burnt with the token. */
  dpop?: TokenRequestProof;
  /** `ctx.waitUntil` of the request, where the runtime offers one: work others wait for must outlive a disconnect. */
  waitUntil?: (work: Promise<unknown>) => void;
  /** Whether this request's ledger call may share a round trip with others of its agent (`Config.ledgerBatching`). */
  batchLedgerCalls: boolean;
};

/**
 * What a grant did: its Result plus the facts the route turns into the log line and the audit event (agent,
 * use case, …, and `recorded` when the ledger already stored the issued token's record). Facts are returned
 * on refusal too, so a refusal is recorded with everything known when it happened.
 */
export type GrantOutcome<T> = Result<T> & { facts: Outcome; extras?: AuditExtra[] };

/** The Result with the facts gathered so far. */
export function withFacts<T>(result: Result<T>, facts: Outcome, extras?: AuditExtra[]): GrantOutcome<T> {
  return extras ? { ...result, facts, extras } : { ...result, facts };
}
