// Usage: npm run agent -- <agent-id> <use-case> [intent] [context-json]
// Gets a token from the local broker as one of the demo agents (their private keys are in policy/demo-agent-keys.json).
import { decodeJwt, decodeProtectedHeader } from "jose";
import { WritClient, WritError } from "../client/index.ts";
import { demoAgent } from "./demo-agent.ts";

const [agentId = "support-bot", useCase = "crm.customers.read", intent, context] = process.argv.slice(2);
const { issuer, privateJwk } = demoAgent(agentId);
const writ = new WritClient({ issuer, agentId, key: privateJwk });
try {
  const token = await writ.token({ useCase, intent, context: context ? JSON.parse(context) : undefined, approval: "fail" });
  console.log(JSON.stringify(token, null, 2));
  console.log("\nheader:", JSON.stringify(decodeProtectedHeader(token.accessToken)));
  console.log("claims:", JSON.stringify(decodeJwt(token.accessToken), null, 2));
} catch (error) {
  if (!(error instanceof WritError)) throw error;
  console.error(`refused: ${error.message}`);
  if (error.code === "ERR_WRIT_APPROVAL_REQUIRED")
    console.error(`to ask the approvers: npm run approval -- ${agentId} ${useCase} "<intent>"`);
  process.exit(1);
}
