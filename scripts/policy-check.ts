// Usage: node scripts/policy-check.ts [policy.json]  (default: the file wrangler.toml's alias points at)
import { readFileSync, realpathSync } from "node:fs";
import { check } from "recheck";
import { type CompiledPolicy, compilePolicy, PolicyError } from "../core/policy/compile-policy.ts";
import { anchoredPattern, contextPatternSites, patternProblem } from "../core/policy/context-patterns.ts";
import { policyPathFromWrangler } from "./policy-path.ts";

/** Long enough for recheck to decide any sensible pattern; a pattern it cannot decide in this time is refused. */
const RECHECK_TIMEOUT_MS = 10_000;

/**
 * Everything startup would refuse (compile: the schema and the structural ReDoS check), and then every context
 * pattern recheck finds super-linear: an agent chooses the value a pattern is matched against (issue 11).
 * Throws `PolicyError` with one line per problem.
 *
 * @example await checkPolicy(JSON.parse(readFileSync("policy/demo.policy.json", "utf8"))) // the compiled policy
 */
export async function checkPolicy(document: unknown): Promise<CompiledPolicy> {
  const policy = compilePolicy(document);
  const problems = await Promise.all(
    contextPatternSites(policy.document).map(async (site) => {
      // Anchored, as the broker runs it; polynomial counts as well as exponential, and so does "could not decide".
      const diagnostics = await check(anchoredPattern(site.source), "u", { timeout: RECHECK_TIMEOUT_MS });
      if (diagnostics.status === "safe") return [];
      if (diagnostics.status === "vulnerable")
        return patternProblem(
          site,
          `can take ${diagnostics.complexity.summary} time to match (ReDoS), e.g. on ${shortened(diagnostics.attack.pattern)}: rewrite it so that every character can be matched only one way`,
        );
      return patternProblem(site, `could not be shown to match in linear time (recheck: ${diagnostics.error.kind}): simplify it`);
    }),
  );
  if (problems.flat().length > 0) throw new PolicyError(problems.flat());
  return policy;
}

/** recheck spells its attack string as JavaScript; a long one is cut so the problem stays one readable line. */
function shortened(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

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
      'usage: npm run policy:check [-- <policy.json>]\nValidates a policy (default: the file wrangler.toml\'s [alias] "writ-policy" names) and names each bad field.',
    );
  } else if (extra !== undefined || argument?.startsWith("-")) {
    console.error(`policy check: unexpected argument ${JSON.stringify(extra ?? argument)} (see --help)`);
    process.exit(2);
  } else {
    await main(argument ?? policyPathFromWrangler());
  }
}
