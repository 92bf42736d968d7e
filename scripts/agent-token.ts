// Usage: npm run agent -- <agent-id> <use-case> [intent] [context-json]
// Gets a token from the local broker as one of the demo agents (their private keys are in policy/demo-agent-keys.json).
import { decodeJwt, decodeProtectedHeader } from "jose";
import { requestToken, WritTokenError } from "../client/index.ts";
import { demoAgent } from "./demo-agent.ts";

const [agentId = "support-bot", useCase = "crm.customers.read", intent, context] = process.argv.slice(2);
const { issuer, privateJwk } = demoAgent(agentId);
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
