import type { AgentLedger } from "../durable-objects/agent-ledger.ts";
import type { DevSigningKey } from "../durable-objects/dev-signing-key.ts";

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
  AGENT_LEDGER: DurableObjectNamespace<AgentLedger>;
  DEV_SIGNING_KEY: DurableObjectNamespace<DevSigningKey>;
}

declare global {
  namespace Cloudflare {
    interface Env extends WritEnv {}
    interface GlobalProps {
      mainModule: typeof import("./index.ts");
      durableNamespaces: "AgentLedger" | "DevSigningKey";
    }
  }
}
