// `node scripts/policy-check.ts [policy.json]`: the policy check without the demo-key guard, kept for the
// [build] command and tests until they move to `writ policy check` (cli/commands/policy.ts), which adds it.
import { readFileSync, realpathSync } from "node:fs";
import { checkPolicy } from "../cli/policy/check-policy.ts";
import { PolicyError } from "../core/policy/compile-policy.ts";
import { PolicyPathError, resolvePolicyPath } from "./policy-path.ts";

export { checkPolicy };

async function main(path: string): Promise<void> {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    console.error(`policy check failed: ${path}: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
  try {
    const policy = await checkPolicy(document);
    console.log(`policy ok: ${path}: ${policy.agents.size} agents, ${policy.useCases.size} use cases`);
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    console.error(`policy check failed: ${path}\n${error.problems.map((p) => `  - ${p}`).join("\n")}`);
    process.exit(1);
  }
}

// Run as a script (symbolic links resolved, as Node resolves the module), not when a test imports checkPolicy.
const script = process.argv[1];
if (script !== undefined && realpathSync(script) === import.meta.filename) {
  const [argument, extra] = process.argv.slice(2);
  if (argument === "--help" || argument === "-h") {
    console.log(
      "usage: node scripts/policy-check.ts [<policy.json>]\nValidates a policy (default: the file wrangler.toml's [alias] \"writ-policy\" names) and names each bad field.\n`writ policy check` does the same and also refuses the demo agents' keys.",
    );
  } else if (extra !== undefined || argument?.startsWith("-")) {
    console.error(`policy check: unexpected argument ${JSON.stringify(extra ?? argument)} (see --help)`);
    process.exit(2);
  } else {
    let path = argument;
    try {
      path ??= resolvePolicyPath().path;
    } catch (error) {
      if (!(error instanceof PolicyPathError)) throw error;
      console.error(`policy check: ${error.message}`);
      process.exit(2);
    }
    await main(path);
  }
}
