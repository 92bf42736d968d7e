// Usage: node scripts/policy-check.ts [policy.json]  (default: the file wrangler.toml's alias points at)
import { readFileSync } from "node:fs";
import { compilePolicy, PolicyError } from "../core/policy/compile-policy.ts";
import { policyPathFromWrangler } from "./policy-path.ts";

const path = process.argv[2] ?? policyPathFromWrangler();
let document: unknown;
try {
  document = JSON.parse(readFileSync(path, "utf8"));
} catch (error) {
  console.error(`policy check failed: ${path}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
try {
  const policy = compilePolicy(document);
  console.log(`policy ok: ${path}: ${policy.agents.size} agents, ${policy.useCases.size} use cases`);
} catch (error) {
  if (!(error instanceof PolicyError)) throw error;
  console.error(`policy check failed: ${path}\n${error.problems.map((p) => `  - ${p}`).join("\n")}`);
  process.exit(1);
}
