// npm start [-- --port N] [-- --policy file]: the broker on http://localhost:8787 with the policy WRIT_POLICY, --policy
// or wrangler.toml names, a generated dev key and local Durable Objects. Other arguments go to `wrangler dev`.
import { DEV_PORT, devVars } from "./dev-vars.ts";
import {
  checkPolicyFile,
  displayPath,
  type PolicyChoice,
  PolicyPathError,
  resolvePolicyPath,
  spawnWrangler,
  takeOption,
} from "./policy-path.ts";

const USAGE = `usage: npm start [-- --port <port>] [-- --policy <policy.json>] [-- <wrangler dev options>]
Runs the broker locally on http://localhost:<port> (default ${DEV_PORT}) with a generated dev signing key.
The policy is --policy, else the WRIT_POLICY environment variable, else the file wrangler.toml's [alias] names.`;
/** How often the start waits for the broker's metadata to answer before printing the banner. */
const READY_POLL_MS = 500;

let options: { port: number; policy: PolicyChoice; wranglerArgs: string[] };
try {
  options = parseArguments(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof PolicyPathError)) throw error;
  console.error(`npm start: ${error.message} (see npm start -- --help)`);
  process.exit(2);
}

const { port, policy } = options;
const vars = devVars(port);
// Local development runs the demo policy, whose agents' private keys are in the repository; deploys refuse it.
const allowDemoKeys = { WRIT_ALLOW_DEMO_KEYS: "1" };
const checked = checkPolicyFile(policy.path, allowDemoKeys);
if (checked !== 0) process.exit(checked);
const child = spawnWrangler(
  "dev",
  policy.path,
  [
    // The issuer's host: wrangler says "Ready on" the same origin the banner and the metadata name.
    ...["--ip", "localhost", "--port", String(port)],
    ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
    ...options.wranglerArgs,
  ],
  {
    // The broker never reads request.cf: offline, fetching it would only print a warning with a stack trace.
    CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false",
    WRANGLER_SEND_METRICS: "false",
    ...allowDemoKeys,
  },
);

let exited = false;
child.on("exit", (code, signal) => {
  exited = true;
  process.exit(code ?? (signal === "SIGINT" || signal === "SIGTERM" ? 0 : 1));
});

if (await brokerReady(vars.ISSUER)) console.log(banner());

function parseArguments(argv: readonly string[]): typeof options {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    process.exit(0);
  }
  const portOption = takeOption(argv, "port");
  const policyOption = takeOption(portOption.rest, "policy");
  const port = portOption.value === undefined ? DEV_PORT : Number(portOption.value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new PolicyPathError(`--port must be a port number (1-65535), not ${JSON.stringify(portOption.value)}`);
  return { port, policy: resolvePolicyPath({ flag: policyOption.value }), wranglerArgs: policyOption.rest };
}

/** True once the broker answers its metadata for this issuer; false if wrangler exited first. */
async function brokerReady(issuer: string): Promise<boolean> {
  while (!exited) {
    try {
      const response = await fetch(`${issuer}/.well-known/oauth-authorization-server`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return true;
    } catch {
      // Not listening yet (wrangler builds first).
    }
    await new Promise((done) => setTimeout(done, READY_POLL_MS));
  }
  return false;
}

function banner(): string {
  const issuer = vars.ISSUER;
  // The demo scripts sign for the default port's issuer unless told otherwise.
  const agentEnv = port === DEV_PORT ? "" : `WRIT_ISSUER=${issuer} `;
  const demo =
    displayPath(policy.path) === "policy/demo.policy.json"
      ? `
  Get a first token, in another terminal:
    ${agentEnv}npm run agent -- support-bot crm.customers.read "look up a customer"
  Ask for something that needs a human, then approve it from the captured mail:
    ${agentEnv}npm run approval -- billing-agent billing.invoices.refund "refund invoice INV-42"
    open ${issuer}/dev/outbox`
      : "";
  return `
  Writ broker ready: issuer ${issuer}
  Policy: ${displayPath(policy.path)} (from ${policy.source})
${demo}
  Admin (token "${vars.ADMIN_TOKEN}"): ${issuer}/admin
  Discovery and keys:
    curl ${issuer}/.well-known/oauth-authorization-server
`;
}
