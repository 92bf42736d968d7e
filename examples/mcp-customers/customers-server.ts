/**
 * The MCP server itself: two tools over the customers table. Writ's middleware has already checked the token, the
 * tool's use case and the arguments' limits before a handler runs; handlers still clamp to the grant (defence in depth).
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { WritGrant } from "../../verifier/index.ts";
import type { McpToolResult, McpToolRule } from "../../verifier/mcp.ts";
import { queryCustomers } from "./customers-db.ts";

/** What each tool needs from a Writ token, for `createMcpAuth({ tools })`. `tablePrefix` turns a table name into a location. */
export function customerToolRules(tablePrefix: string, metered: boolean): Record<string, McpToolRule> {
  const query: McpToolRule = {
    useCase: "customers.query",
    action: "read",
    arguments: { limit: { atMost: "max_rows" }, table: { within: "locations", prefix: tablePrefix } },
  };
  if (metered) query.units = (result: McpToolResult) => ({ max_rows: rowCount(result) });
  return {
    query_customers: query,
    export_customers: { useCase: "customers.export", action: "export", arguments: { table: { within: "locations", prefix: tablePrefix } } },
  };
}

/** One server per request (stateless Streamable HTTP): nothing is shared between agents but the database. */
export function createCustomersServer(db: D1Database): McpServer {
  const server = new McpServer({ name: "writ-example-customers", version: "0.1.0" });

  server.registerTool(
    "query_customers",
    {
      description: "Read customers, at most as many rows as your token's max_rows allows.",
      inputSchema: {
        limit: z.number().int().min(1).optional().describe("rows to return (default 10, at most the token's max_rows)"),
        table: z.string().default("customers").describe("the table to read"),
        country: z.string().length(2).optional().describe("only customers of this ISO country code"),
      },
      annotations: { readOnlyHint: true },
    },
    async ({ limit, country }, extra) => {
      const maxRows = grantOf(extra.authInfo).limits.max_rows;
      if (typeof maxRows !== "number") return failure("the token carries no max_rows limit");
      const rows = await queryCustomers(db, Math.min(limit ?? 10, maxRows), country);
      return { content: [{ type: "text", text: JSON.stringify(rows) }], structuredContent: { count: rows.length, rows } };
    },
  );

  server.registerTool(
    "export_customers",
    {
      description: "Export the customers table as CSV for a support ticket. Needs a human approval.",
      inputSchema: {
        ticket: z
          .string()
          .regex(/^SUP-[0-9]{1,8}$/)
          .describe("the support ticket this export is for"),
        table: z.string().default("customers"),
      },
    },
    async ({ ticket }, extra) => {
      const grant = grantOf(extra.authInfo);
      const maxRows = grant.limits.max_rows;
      if (typeof maxRows !== "number") return failure("the token carries no max_rows limit");
      const rows = await queryCustomers(db, maxRows);
      const csv = ["id,name,email,country", ...rows.map((r) => `${r.id},${r.name},${r.email},${r.country}`)].join("\n");
      const approvedBy = grant.approval?.approved_by ?? [];
      return {
        content: [{ type: "text", text: csv }],
        structuredContent: { ticket, count: rows.length, approved_by: approvedBy },
      };
    },
  );

  return server;
}

/** The grant the middleware put in the SDK's `authInfo`; its absence is a wiring bug, not a refusal. */
function grantOf(authInfo: { extra?: Record<string, unknown> } | undefined): WritGrant {
  const grant = authInfo?.extra?.writ;
  if (grant === undefined) throw new Error("no Writ grant: is the MCP endpoint behind createMcpAuth?");
  return grant as WritGrant;
}

function failure(text: string) {
  return { content: [{ type: "text" as const, text }], isError: true };
}

function rowCount(result: McpToolResult): number {
  const count = result.structuredContent?.count;
  return typeof count === "number" ? count : 0;
}
