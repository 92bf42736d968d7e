import { app } from "./app.ts";

export { AgentLedger } from "../durable-objects/agent-ledger.ts";
export { DevSigningKey } from "../durable-objects/dev-signing-key.ts";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Cloudflare.Env>;
