// Usage: npm run approval -- <agent-id> <use-case> <intent> [context-json]
// Starts a human approval as a demo agent against the local broker, waits for the approvers and prints the token.
import { decodeJwt } from "jose";
import { WritClient, WritError } from "../client/index.ts";
import { demoAgent } from "./demo-agent.ts";
import { DEV_VARS } from "./dev-vars.ts";

const [agentId = "billing-agent", useCase = "billing.invoices.refund", intent = "refund invoice INV-42 (duplicate charge)", context] =
  process.argv.slice(2);
const { issuer, privateJwk } = demoAgent(agentId);
const writ = new WritClient({ issuer, agentId, key: privateJwk });
try {
  const token = await writ.token({
    useCase,
    intent,
    context: context ? JSON.parse(context) : undefined,
    onPending: ({ polls, expiresIn }) => {
      if (polls > 0) return void process.stdout.write(".");
      console.log(`approval requested (expires in ${expiresIn}s). Approvers were emailed; locally, open:
  ${DEV_VARS.APPROVAL_ORIGIN}/dev/outbox
and follow the links to approve. Waiting…`);
    },
  });
  console.log("\napproved:", JSON.stringify(decodeJwt(token.accessToken), null, 2));
} catch (error) {
  if (!(error instanceof WritError)) throw error;
  console.error(`\nrefused: ${error.message}`);
  process.exit(1);
}
