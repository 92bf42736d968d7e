import type { AgentLedger } from "../durable-objects/agent-ledger.ts";
import type { ApprovalRequest } from "../durable-objects/approval-request.ts";
import type { ApproverPasskeys } from "../durable-objects/approver-passkeys.ts";
import type { AuditLog } from "../durable-objects/audit-log.ts";
import type { DevOutbox } from "../durable-objects/dev-outbox.ts";
import type { DevSigningKey } from "../durable-objects/dev-signing-key.ts";
import type { NoiseCounter } from "../durable-objects/noise-counter.ts";

/** Bindings from wrangler.toml plus secrets. Read through `readConfig`, never directly, so misconfiguration fails in one place. */
export interface WritEnv {
  /** The broker's public base URL: the `iss` of every token and the audience agents sign for. */
  ISSUER: string;
  /** JSON key set from `npm run keygen` (`wrangler secret put SIGNING_KEYS`). */
  SIGNING_KEYS?: string;
  /** Algorithm of the generated development key: ES256 (default) or EdDSA. */
  SIGNING_ALG?: string;
  /** "true" lets the broker generate and keep its own key when SIGNING_KEYS is absent. Set only for local dev. */
  DEV_SIGNING_KEY_ALLOWED?: string;
  /** Where approval links point; defaults to ISSUER. Local passkeys need "http://localhost:8787": WebAuthn refuses IP addresses as RP IDs. */
  APPROVAL_ORIGIN?: string;
  /** Sender address of approval emails. */
  APPROVAL_FROM: string;
  /** "true" keeps every sent approval email for GET /dev/outbox. Local development only. */
  DEV_OUTBOX?: string;
  /** "off" sends each token's ledger call alone instead of batching concurrent ones of an agent (test pool only). */
  LEDGER_BATCHING?: string;
  /** Bearer secret for /admin/* (`wrangler secret put ADMIN_TOKEN`). */
  ADMIN_TOKEN?: string;
  /** JSON `{"<service audience>": "<bearer secret>"}`: downstream services' credentials for /introspect, /revoke and /usage. */
  SERVICE_CREDENTIALS?: string;
  /** Cloudflare Access team domain (https://<team>.cloudflareaccess.com) and application audience, for approvers behind Access. */
  ACCESS_TEAM_DOMAIN?: string;
  ACCESS_AUD?: string;
  /** Access application audience of the admin API, and the emails allowed in (comma-separated). */
  ADMIN_ACCESS_AUD?: string;
  ADMIN_EMAILS?: string;
  AGENT_LEDGER: DurableObjectNamespace<AgentLedger>;
  DEV_SIGNING_KEY: DurableObjectNamespace<DevSigningKey>;
  APPROVAL_REQUEST: DurableObjectNamespace<ApprovalRequest>;
  APPROVER_PASSKEYS: DurableObjectNamespace<ApproverPasskeys>;
  DEV_OUTBOX_STORE: DurableObjectNamespace<DevOutbox>;
  APPROVAL_MAIL: SendEmail;
  AUDIT_LOG: DurableObjectNamespace<AuditLog>;
  /** Unauthenticated failures, counted per day (worker/audit/noise-trail.ts). */
  NOISE_COUNTER: DurableObjectNamespace<NoiseCounter>;
  /** Unauthenticated failures per client network (worker/middleware/failure-limit.ts); `[[ratelimits]]` in wrangler.toml. */
  FAILURE_LIMITER: RateLimit;
  /** Failed admin authentication per client network: a tighter budget against guessing the admin token. */
  ADMIN_AUTH_LIMITER: RateLimit;
  /** Days an audit shard is kept before it is pruned to its head hash (default 400). */
  AUDIT_RETENTION_DAYS?: string;
}

declare global {
  namespace Cloudflare {
    interface Env extends WritEnv {}
  }
}
