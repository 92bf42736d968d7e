// The example agent as a program: `node examples/mcp-agent/main.ts` (npm run demo:mcp starts it with the local-dev
// settings). Prints one line per step. Settings from the environment:
//   WRIT_ISSUER       the broker's issuer URL (default http://localhost:8787)
//   MCP_URL           the MCP endpoint (default http://localhost:8788/mcp)
//   WRIT_AGENT_KEYS   a JSON file of agent id -> private JWK (default policy/demo-agent-keys.json)
//   DEV_APPROVER      local development only: approve the export as this approver from the broker's dev outbox
//                     (unset: wait for a human to approve from the mailed link)
import { readFileSync } from "node:fs";
import type { AgentKey } from "../../client/types.ts";
import { type AgentStep, runAgent } from "./agent.ts";
import { approveFromDevOutbox } from "./dev-approve.ts";

const issuer = process.env.WRIT_ISSUER ?? "http://localhost:8787";
const mcpUrl = process.env.MCP_URL ?? "http://localhost:8788/mcp";
const keys = JSON.parse(readFileSync(process.env.WRIT_AGENT_KEYS ?? "policy/demo-agent-keys.json", "utf8")) as Record<string, AgentKey>;
const approver = process.env.DEV_APPROVER || undefined;
const APPROVERS = "dana@example.com";

function line(step: AgentStep): string {
  switch (step.step) {
    case "connected":
      return `✓ connected to ${step.server} at ${mcpUrl} (Writ found in its protected-resource metadata)`;
    case "tools":
      return `✓ tools: ${step.names.join(", ")}`;
    case "query":
      return `✓ query_customers(limit ${step.limit}): ${step.count} rows`;
    case "denied":
      return `✗ query_customers(limit 500) refused: ${step.description}\n  rule: ${JSON.stringify(step.rule)}`;
    case "remediated":
      return `✓ followed the remediation ${JSON.stringify(step.arguments)}: ${step.count} rows`;
    case "pending":
      return (
        `… export_customers needs ${step.useCase}: waiting for approval from ${APPROVERS} (expires in ${step.expiresIn} s)` +
        (approver === undefined ? "\n  (approve it from the mailed link)" : `\n  approving from the dev outbox as ${approver}`)
      );
    case "exported":
      return `✓ export_customers: ${step.count} rows, approved by ${step.approvedBy.join(", ")}`;
    case "flood":
      return `✓ flood: ${step.calls} more queries, ${step.rows} rows, each reported to the broker as used`;
    case "rate_limited":
      return `✗ stopped: ${step.error}: ${step.description}${step.retryAfter === undefined ? "" : ` (retry in ${step.retryAfter} s)`}`;
  }
}

try {
  await runAgent({
    mcpUrl,
    issuer,
    agentId: "support-bot",
    key: keys["support-bot"] as AgentKey,
    report: (step) => console.log(line(step)),
    ...(approver === undefined
      ? {}
      : { onApproval: (pending) => approveFromDevOutbox(issuer, pending.authReqId.split(".")[0] ?? "", approver) }),
  });
} catch (error) {
  console.error(`the agent stopped: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
