// npm run demo:mcp: the example agent (examples/mcp-agent/main.ts) against `npm start` and `npm run example:mcp`. The
// export step needs dana@example.com's approval: by default the demo approves from the broker's dev outbox, as her
// browser would; with --manual it waits for you to approve at /dev/outbox.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { DEV_VARS } from "./dev-vars.ts";
import { PROJECT_ROOT } from "./policy-path.ts";

/** Where `npm run example:mcp` serves (scripts/example-mcp.ts), as the demo policy names it. */
const MCP_EXAMPLE_URL = "http://localhost:8788/mcp";
const manual = process.argv.includes("--manual");

for (const [what, url, hint] of [
  ["the broker", `${DEV_VARS.ISSUER}/.well-known/oauth-authorization-server`, "npm start"],
  ["the MCP server", new URL("/.well-known/oauth-protected-resource/mcp", MCP_EXAMPLE_URL).href, "npm run example:mcp"],
] as const) {
  const reachable = await fetch(url).then(
    (res) => res.ok,
    () => false,
  );
  if (!reachable) {
    console.error(`${what} is not answering at ${url}: start it with \`${hint}\` in another terminal.`);
    process.exit(1);
  }
}
if (manual) console.log(`The export waits for an approval: open ${DEV_VARS.APPROVAL_ORIGIN}/dev/outbox when asked.`);

const child = spawn(process.execPath, [join(PROJECT_ROOT, "examples/mcp-agent/main.ts")], {
  cwd: PROJECT_ROOT,
  stdio: "inherit",
  env: {
    ...process.env,
    WRIT_ISSUER: DEV_VARS.ISSUER,
    MCP_URL: MCP_EXAMPLE_URL,
    WRIT_AGENT_KEYS: join(PROJECT_ROOT, "policy/demo-agent-keys.json"),
    DEV_APPROVER: manual ? "" : "dana@example.com",
  },
});
child.on("exit", (code) => {
  if (code !== 0)
    console.error(
      "(the daily row budget lives in the broker's local state: a second run on the same day is stopped earlier; " +
        "to start afresh, stop `npm start`, delete .wrangler/state and start it again)",
    );
  process.exit(code ?? 1);
});
