/**
 * The example agent: the official MCP SDK client with Writ's fetch, against the customers MCP server. Each step
 * is reported as data, so the demo prints it and the end-to-end test checks it.
 *
 *   lists tools → an allowed query → an over-limit query refused with a remediation, which it follows → an export that
 *   needs a human approval (step-up, then CIBA) → the "read-only flood": metered queries until the daily row budget
 *   is spent and the broker answers rate_limited.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { WritRateLimited } from "../../client/errors.ts";
import { writMcpFetch } from "../../client/mcp.ts";
import type { AgentKey, PendingApproval } from "../../client/types.ts";
import { WritClient } from "../../client/writ-client.ts";

export type AgentStep =
  | { step: "connected"; server: string }
  | { step: "tools"; names: string[] }
  | { step: "query"; limit: number; count: number }
  | { step: "denied"; error: string; description: string; rule: unknown; retryWith: Record<string, unknown> | undefined }
  | { step: "remediated"; arguments: Record<string, unknown>; count: number }
  | { step: "pending"; useCase: string; approvalId: string; expiresIn: number }
  | { step: "exported"; count: number; approvedBy: string[] }
  | { step: "flood"; calls: number; rows: number }
  | { step: "rate_limited"; error: string | undefined; description: string | undefined; retryAfter: number | undefined };

export type AgentOptions = {
  /** The MCP endpoint, e.g. http://localhost:8788/mcp. */
  mcpUrl: string;
  /** The Writ broker's issuer URL. */
  issuer: string;
  agentId: string;
  key: AgentKey;
  /** Told each step as it happens. */
  report: (step: AgentStep) => void;
  /** Told when the export waits for a human; the demo approves from the dev outbox, a real agent tells its user. */
  onApproval?: (pending: PendingApproval) => void | Promise<void>;
  /** Safety stop for the flood: the budget must run out before this many calls. */
  maxFloodCalls?: number;
};

type ToolResult = { isError?: boolean; structuredContent?: Record<string, unknown> };

export async function runAgent(options: AgentOptions): Promise<void> {
  const { report } = options;
  const writ = new WritClient({ issuer: options.issuer, agentId: options.agentId, key: options.key });
  const approvalsSeen = new Set<string>();
  const transport = new StreamableHTTPClientTransport(new URL(options.mcpUrl), {
    fetch: writMcpFetch({
      writ,
      // One intent per use case, so that one token serves every call of it (an intent per call would cost a token per call).
      intent: (useCase) => (useCase === "customers.export" ? "export the customers for ticket SUP-1042" : "look up customers"),
      onApproval: async (pending) => {
        if (approvalsSeen.has(pending.authReqId)) return;
        approvalsSeen.add(pending.authReqId);
        report({
          step: "pending",
          useCase: pending.useCase,
          approvalId: pending.authReqId.split(".")[0] ?? "",
          expiresIn: pending.expiresIn,
        });
        await options.onApproval?.(pending);
      },
    }),
  });
  const client = new Client({ name: "writ-example-agent", version: "0.1.0" });
  await client.connect(transport);
  try {
    report({ step: "connected", server: client.getServerVersion()?.name ?? "?" });
    const { tools } = await client.listTools();
    report({ step: "tools", names: tools.map((t) => t.name).sort() });

    const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as ToolResult;

    const first = await call("query_customers", { limit: 10 });
    report({ step: "query", limit: 10, count: countOf(first) });

    // Too many rows for the token: Writ's middleware refuses with what would succeed, and the agent follows it.
    const over = await call("query_customers", { limit: 500 });
    const denial = over.structuredContent ?? {};
    const retryWith = (denial.retry_with as { arguments?: Record<string, unknown> } | undefined)?.arguments;
    report({
      step: "denied",
      error: String(denial.error),
      description: String(denial.error_description),
      rule: denial.rule,
      retryWith,
    });
    if (over.isError !== true || retryWith === undefined) throw new Error("the over-limit query was not refused with a remediation");
    const remediated = await call("query_customers", retryWith);
    report({ step: "remediated", arguments: retryWith, count: countOf(remediated) });

    // Another use case: the server answers 403 insufficient_scope, Writ's fetch steps up and waits for the approver.
    const exported = await call("export_customers", { ticket: "SUP-1042" });
    if (exported.isError === true) throw new Error(`export refused: ${JSON.stringify(exported)}`);
    const approvedBy = exported.structuredContent?.approved_by;
    report({ step: "exported", count: countOf(exported), approvedBy: Array.isArray(approvedBy) ? approvedBy.map(String) : [] });

    // The read-only flood: each metered call spends a token; the broker stops issuing them when the day's rows are gone.
    let calls = 0;
    let rows = 0;
    const maxCalls = options.maxFloodCalls ?? 100;
    try {
      for (; calls < maxCalls; calls++) rows += countOf(await call("query_customers", { limit: 50 }));
      throw new Error(`the daily row budget did not stop ${maxCalls} calls`);
    } catch (error) {
      if (!(error instanceof WritRateLimited)) throw error;
      report({ step: "flood", calls, rows });
      report({ step: "rate_limited", error: error.error, description: error.errorDescription, retryAfter: error.retryAfter });
    }
  } finally {
    await client.close();
  }
}

function countOf(result: ToolResult): number {
  if (result.isError === true) throw new Error(`tool call failed: ${JSON.stringify(result)}`);
  const count = result.structuredContent?.count;
  if (typeof count !== "number") throw new Error(`tool result without a count: ${JSON.stringify(result)}`);
  return count;
}
