// Usage: npm run approval -- <agent-id> <use-case> <intent> [context-json]
// Starts a human approval as a demo agent against the local broker, waits for the approvers and prints the token.
import { decodeJwt } from "jose";
import { collectApprovedToken, requestApproval, WritTokenError } from "../client/index.ts";
import { demoAgent } from "./demo-agent.ts";
import { DEV_VARS } from "./dev-vars.ts";

const [agentId = "billing-agent", useCase = "billing.invoices.refund", intent = "refund invoice INV-42 (duplicate charge)", context] =
  process.argv.slice(2);
const { issuer, privateJwk } = demoAgent(agentId);
const agent = { issuer, agentId, privateJwk };
try {
  const started = await requestApproval({ ...agent, useCase, intent, context: context ? JSON.parse(context) : undefined });
  console.log(`approval requested (expires in ${started.expires_in}s). Approvers were emailed; locally, open:
  ${DEV_VARS.APPROVAL_ORIGIN}/dev/outbox
and follow the links to approve. Waiting…`);
  const token = await collectApprovedToken(agent, started, () => process.stdout.write("."));
  console.log("\napproved:", JSON.stringify(decodeJwt(token.access_token), null, 2));
} catch (error) {
  if (!(error instanceof WritTokenError)) throw error;
  console.error(`\nrefused (${error.status}): ${error.message}`);
  process.exit(1);
}
