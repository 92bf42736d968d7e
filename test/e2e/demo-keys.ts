import type { JWK } from "jose";
import demoKeys from "../../policy/demo-agent-keys.json" with { type: "json" };

export type DemoJwk = JWK & { kid: string; alg: string };
/** The demo agents' private keys (policy/demo-agent-keys.json, dev only), as the end-to-end agents sign with them. */
export const DEMO_KEYS: Record<string, DemoJwk> = demoKeys;
