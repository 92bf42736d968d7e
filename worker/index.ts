import { app } from "./app.ts";

export { AgentLedger } from "../durable-objects/agent-ledger.ts";
export { ApprovalRequest } from "../durable-objects/approval-request.ts";
export { ApproverPasskeys } from "../durable-objects/approver-passkeys.ts";
export { AuditLog } from "../durable-objects/audit-log.ts";
export { DevOutbox } from "../durable-objects/dev-outbox.ts";
export { DevSigningKey } from "../durable-objects/dev-signing-key.ts";
export { NoiseCounter } from "../durable-objects/noise-counter.ts";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Cloudflare.Env>;
