// The customers MCP server as a Worker: `npm run example:mcp` (see README.md). Streamable HTTP at /mcp, stateless.
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { createVerifier } from "../../verifier/index.ts";
import { createMcpAuth, type McpAuth } from "../../verifier/mcp.ts";
import { ensureSeeded } from "./customers-db.ts";
import { createCustomersServer, customerToolRules } from "./customers-server.ts";

export type McpCustomersEnv = {
  DB: D1Database;
  /** The Writ broker's issuer URL, e.g. http://localhost:8787 in local dev. */
  WRIT_ISSUER: string;
  /** This MCP endpoint's URL, as agents reach it and the policy lists it among the use cases' audiences. */
  MCP_RESOURCE: string;
  /** This server's service credential at the broker; when set, query_customers reports the rows it really returned. */
  WRIT_SERVICE_SECRET?: string;
};

// One middleware (and verifier, with its cached JWKS) per isolate; rebuilt only if the configuration changes.
let cached: { key: string; auth: McpAuth } | undefined;

function authFor(env: McpCustomersEnv): McpAuth {
  const key = [env.WRIT_ISSUER, env.MCP_RESOURCE, env.WRIT_SERVICE_SECRET ?? ""].join("\n");
  if (cached?.key !== key) {
    const tablePrefix = `${new URL(env.MCP_RESOURCE).origin}/tables/`;
    const secret = env.WRIT_SERVICE_SECRET;
    cached = {
      key,
      auth: createMcpAuth({
        verifier: createVerifier({ issuer: env.WRIT_ISSUER, audience: env.MCP_RESOURCE }),
        tools: customerToolRules(tablePrefix, secret !== undefined),
        resourceName: "Writ example: customers",
        ...(secret === undefined ? {} : { usage: { credential: secret } }),
        onRefusal: (refusal) => console.log(JSON.stringify({ level: "info", msg: "mcp_refusal", kind: refusal.kind })),
      }),
    };
  }
  return cached.auth;
}

export default {
  async fetch(request, env) {
    const auth = authFor(env);
    const metadata = auth.metadataFor(request);
    if (metadata !== undefined) return metadata;
    if (new URL(request.url).pathname !== new URL(auth.resource).pathname)
      return Response.json({ error: "not_found", error_description: "the MCP endpoint is /mcp" }, { status: 404 });
    return auth.protect(request, async (forwarded, { authInfo }) => {
      await ensureSeeded(env.DB);
      const server = createCustomersServer(env.DB);
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      await server.connect(transport);
      return transport.handleRequest(forwarded, { authInfo });
    });
  },
} satisfies ExportedHandler<McpCustomersEnv>;
