// Usage: npm run agent -- <agent-id> <use-case> [intent] [context-json]
// Gets a token from the local broker as one of the demo agents (their private keys are in policy/demo-agent-keys.json).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { requestToken, WritTokenError } from "../client/index.ts";
import { DEV_VARS } from "./dev-vars.ts";
import { PROJECT_ROOT } from "./policy-path.ts";

const [agentId = "support-bot", useCase = "crm.customers.read", intent, context] = process.argv.slice(2);
const keys = JSON.parse(readFileSync(resolve(PROJECT_ROOT, "policy/demo-agent-keys.json"), "utf8"));
const privateJwk = keys[agentId];
if (!privateJwk) {
  console.error(`no demo key for agent "${agentId}"; demo agents: ${Object.keys(keys).join(", ")}`);
  process.exit(2);
}
const issuer = process.env.WRIT_ISSUER ?? DEV_VARS.ISSUER;
try {
  const token = await requestToken({ issuer, agentId, privateJwk, useCase, intent, context: context ? JSON.parse(context) : undefined });
  console.log(JSON.stringify(token, null, 2));
  console.log("\nheader:", JSON.stringify(decodeProtectedHeader(token.access_token)));
  console.log("claims:", JSON.stringify(decodeJwt(token.access_token), null, 2));
} catch (error) {
  if (!(error instanceof WritTokenError)) throw error;
  console.error(`refused (${error.status}): ${error.message}`);
  process.exit(1);
}
