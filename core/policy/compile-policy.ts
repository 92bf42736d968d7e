import type { z } from "zod";
import { type Agent, type Policy, PolicySchema, type UseCase } from "../../schemas/policy.ts";
import { compileContextPatterns } from "./context-patterns.ts";

/** The policy in the shape the hot path wants: lookups by id and regular expressions compiled once per isolate. */
export type CompiledPolicy = {
  document: Policy;
  agents: ReadonlyMap<string, Agent>;
  useCases: ReadonlyMap<string, UseCase>;
  /** use case id → context key → anchored pattern */
  contextPatterns: ReadonlyMap<string, ReadonlyMap<string, RegExp>>;
  /** Every approver of any use case, normalised (`normaliseEmail`): who may enrol a passkey. */
  approvers: ReadonlySet<string>;
};

/** Misconfiguration, not bad input: thrown at startup, in `npm run policy:check` and in tests, never mapped to a 400. */
export class PolicyError extends Error {
  override readonly name = "PolicyError";
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid policy:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.problems = problems;
  }
}

export function compilePolicy(document: unknown): CompiledPolicy {
  const parsed = PolicySchema.safeParse(document);
  if (!parsed.success) throw new PolicyError(describeIssues(parsed.error));
  const policy = parsed.data;
  // A pattern that backtracks catastrophically would let an agent stall the isolate with its context value (ReDoS).
  const compiled = compileContextPatterns(policy);
  if (!compiled.ok) throw new PolicyError(compiled.problems);
  return {
    document: policy,
    agents: new Map(policy.agents.map((a) => [a.id, a])),
    useCases: new Map(policy.use_cases.map((u) => [u.id, u])),
    contextPatterns: compiled.patterns,
    // The schema has normalised every address already.
    approvers: new Set(policy.use_cases.flatMap((u) => u.approval?.approvers ?? [])),
  };
}

/** One line per problem, each starting at the offending field, e.g. `use_cases[1].max_ttl_seconds: …`. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${formatPath(issue.path) || "(root)"}: ${issue.message}`);
}

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>(
    (out, part) => (typeof part === "number" ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part)),
    "",
  );
}
