// npm run example:mcp: the example customers MCP server (examples/mcp-customers) on http://localhost:8788/mcp, with a
// local D1, against the broker of `npm start` (its issuer and its service credential for this server).
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { DEV_VARS } from "./dev-vars.ts";
import { PROJECT_ROOT } from "./policy-path.ts";

const MCP_EXAMPLE_PORT = 8788;
/** As the demo policy names it among customers.query's and customers.export's audiences. */
const MCP_EXAMPLE_URL = `http://localhost:${MCP_EXAMPLE_PORT}/mcp`;

const credentials = JSON.parse(DEV_VARS.SERVICE_CREDENTIALS) as Record<string, string>;
const secret = credentials[MCP_EXAMPLE_URL];
const vars = {
  WRIT_ISSUER: DEV_VARS.ISSUER,
  MCP_RESOURCE: MCP_EXAMPLE_URL,
  ...(secret === undefined ? {} : { WRIT_SERVICE_SECRET: secret }),
};

const wrangler = resolve(PROJECT_ROOT, "node_modules/.bin/wrangler");
const args = ["dev", "--config", "examples/mcp-customers/wrangler.toml", "--ip", "127.0.0.1", "--port", String(MCP_EXAMPLE_PORT)];
for (const [name, value] of Object.entries(vars)) args.push("--var", `${name}:${value}`);
const child = spawn(wrangler, [...args, ...process.argv.slice(2)], {
  cwd: PROJECT_ROOT,
  stdio: "inherit",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});

console.log(`
  Example MCP server starting on ${MCP_EXAMPLE_URL} (tools: query_customers, export_customers; local D1)
  Authorization server: ${DEV_VARS.ISSUER} (start it with \`npm start\`)
  Protected-resource metadata: http://localhost:${MCP_EXAMPLE_PORT}/.well-known/oauth-protected-resource/mcp
${
  secret === undefined
    ? `  Usage reports OFF: the broker has no service credential for ${MCP_EXAMPLE_URL} (SERVICE_CREDENTIALS in scripts/dev-vars.ts),
  so rows are not metered and the demo's flood is not stopped by the daily row budget.`
    : "  Usage reports ON: query_customers reports the rows it returned (POST /usage)."
}
  Then, in another terminal: npm run demo:mcp
`);

for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));
