import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { JWK } from "jose";
import { DEV_VARS } from "./dev-vars.ts";
import { PROJECT_ROOT } from "./policy-path.ts";

/** A demo agent's identity for the local broker: its private key from policy/demo-agent-keys.json (dev only). Exits on an unknown agent. */
export function demoAgent(agentId: string): { issuer: string; agentId: string; privateJwk: JWK } {
  const keys = JSON.parse(readFileSync(resolve(PROJECT_ROOT, "policy/demo-agent-keys.json"), "utf8")) as Record<string, JWK>;
  const privateJwk = keys[agentId];
  if (!privateJwk) {
    console.error(`no demo key for agent "${agentId}"; demo agents: ${Object.keys(keys).join(", ")}`);
    process.exit(2);
  }
  return { issuer: process.env.WRIT_ISSUER ?? DEV_VARS.ISSUER, agentId, privateJwk };
}
