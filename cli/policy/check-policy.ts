import { type CompiledPolicy, compilePolicy, PolicyError } from "../../core/policy/compile-policy.ts";
import { anchoredPattern, contextPatternSites, patternProblem } from "../../core/policy/context-patterns.ts";

/** Long enough for recheck to decide any sensible pattern; a pattern it cannot decide in this time is refused. */
const RECHECK_TIMEOUT_MS = 10_000;

/**
 * Everything startup would refuse (compile: the schema and the structural ReDoS check), and then every context
 * pattern recheck finds super-linear: an agent chooses the value a pattern is matched against (issue 11).
 * Throws `PolicyError` with one line per problem, each starting at the field.
 *
 * @example await checkPolicy(JSON.parse(readFileSync("policy/demo.policy.json", "utf8"))) // the compiled policy
 */
export async function checkPolicy(document: unknown): Promise<CompiledPolicy> {
  const policy = compilePolicy(document);
  // Loaded only here: recheck is a large library, and every other command of the CLI should start fast.
  const { check } = await import("recheck");
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
