// npm run deploy [-- --policy file] [-- <wrangler deploy options>], and npm run build (the same with --dry-run):
// `wrangler deploy` with the policy --policy, WRIT_POLICY or wrangler.toml names, bundled and checked as one file.
import { checkPolicyFile, displayPath, PolicyPathError, resolvePolicyPath, spawnWrangler, takeOption } from "./policy-path.ts";

const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(`usage: npm run deploy [-- --policy <policy.json>] [-- <wrangler deploy options>]
Deploys the broker with the policy --policy, else the WRIT_POLICY environment variable, else the file wrangler.toml's
[alias] names. The policy is checked first; a policy registering a demo agent key is refused.`);
  process.exit(0);
}

let policyPath: string;
let wranglerArgs: string[];
try {
  const option = takeOption(argv, "policy");
  policyPath = resolvePolicyPath({ flag: option.value }).path;
  wranglerArgs = option.rest;
} catch (error) {
  if (!(error instanceof PolicyPathError)) throw error;
  console.error(`deploy: ${error.message}`);
  process.exit(2);
}

// A real deploy never ships demo keys or dev-only trust, whatever the shell exported: only a build (--dry-run, which
// CI runs on the demo policy) honours WRIT_ALLOW_DEMO_KEYS.
const dryRun = wranglerArgs.includes("--dry-run");
const guard: Record<string, string> = dryRun ? {} : { WRIT_ALLOW_DEMO_KEYS: "" };
const checked = checkPolicyFile(policyPath, guard);
if (checked !== 0) process.exit(checked);
console.log(`${dryRun ? "Building" : "Deploying"} with policy ${displayPath(policyPath)}`);
const child = spawnWrangler("deploy", policyPath, wranglerArgs, guard);
child.on("exit", (code) => process.exit(code ?? 1));
