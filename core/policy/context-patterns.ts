import type { Policy } from "../../schemas/policy.ts";
import { patternHazard } from "./pattern-safety.ts";

/** One context pattern of the policy, and where it is, so that every check can name the use case and key. */
export type ContextPatternSite = { path: string; useCaseId: string; key: string; source: string };

/**
 * Every context pattern in the policy, in file order.
 *
 * @example contextPatternSites(policy)[0] // { path: "use_cases[2].conditions.context.ticket.pattern", useCaseId: "crm.customers.export", key: "ticket", source: "SUP-[0-9]{1,8}" }
 */
export function contextPatternSites(policy: Policy): ContextPatternSite[] {
  return policy.use_cases.flatMap((useCase, i) =>
    Object.entries(useCase.conditions.context).flatMap(([key, rule]) =>
      rule.pattern === undefined
        ? []
        : [{ path: `use_cases[${i}].conditions.context.${key}.pattern`, useCaseId: useCase.id, key, source: rule.pattern }],
    ),
  );
}

/**
 * What the broker really matches: the whole value, so that "TICKET-\d+" cannot be satisfied by
 * "x TICKET-1 DROP TABLE". recheck in `npm run policy:check` analyses this same form.
 *
 * @example anchoredPattern("eu|us") // "^(?:eu|us)$"
 */
export function anchoredPattern(source: string): string {
  return `^(?:${source})$`;
}

/**
 * One line naming the field, the use case and the key, as `npm run policy:check` prints it.
 *
 * @example patternProblem(site, "can take exponential time") // 'use_cases[0].conditions.context.t.pattern: use case "crm.read", context "t": "(a+)+b" can take exponential time'
 */
export function patternProblem(site: ContextPatternSite, problem: string): string {
  return `${site.path}: use case "${site.useCaseId}", context "${site.key}": ${JSON.stringify(site.source)} ${problem}`;
}

/** use case id → context key → anchored pattern, or the problem of every pattern the structural ReDoS check refuses. */
export function compileContextPatterns(
  policy: Policy,
): { ok: true; patterns: Map<string, Map<string, RegExp>> } | { ok: false; problems: string[] } {
  const problems = contextPatternSites(policy).flatMap((site) => {
    const hazard = patternHazard(site.source);
    return hazard === undefined ? [] : [patternProblem(site, hazard)];
  });
  if (problems.length > 0) return { ok: false, problems };
  const patterns = new Map<string, Map<string, RegExp>>(policy.use_cases.map((u) => [u.id, new Map()]));
  for (const site of contextPatternSites(policy))
    patterns.get(site.useCaseId)?.set(site.key, new RegExp(anchoredPattern(site.source), "u"));
  return { ok: true, patterns };
}
