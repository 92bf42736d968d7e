/**
 * ReDoS through context patterns (issue 11): an agent chooses the value a policy's context pattern is matched
 * against, so a pattern that backtracks catastrophically would let it stall the isolate (`(a+)+b` took 2.2 s on a
 * 27-character value). Compile refuses such patterns from their structure; values are capped before matching.
 */
import { describe, expect, it } from "vitest";
import { PolicyError } from "../../../core/policy/compile-policy.ts";
import { decide } from "../../../core/policy/decide.ts";
import { patternHazard } from "../../../core/policy/pattern-safety.ts";
import demoPolicy from "../../../policy/demo.policy.json";
import { MAX_CONTEXT_VALUE_CHARS } from "../../../schemas/policy.ts";
import { policyWith, WEDNESDAY_NOON_UTC } from "../../support/policy-fixture.ts";

const withPattern = (pattern: string) => policyWith({ conditions: { context: { ticket: { pattern } } } });

function compileProblems(pattern: string): string[] {
  try {
    withPattern(pattern);
  } catch (error) {
    if (error instanceof PolicyError) return error.problems;
    throw error;
  }
  return [];
}

describe("the structural ReDoS check at compile", () => {
  it.each([
    ["(a+)+b", 'repeats the group "(a+)+", which itself contains a quantifier'],
    ["(.*a){12}", 'repeats the group "(.*a){12}", which itself contains a quantifier'],
    ["(a?a?)*", 'repeats the group "(a?a?)*", which itself contains a quantifier'],
    ["x((ab)*c)+", 'repeats the group "((ab)*c)+", which itself contains a quantifier'],
    ["(a|a)*b", 'repeats the group "(a|a)*", whose alternatives can start with the same character'],
    ["(?:\\d|[0-9])+", 'repeats the group "(?:\\d|[0-9])+", whose alternatives can start with the same character'],
    ["(?:[^x]|a)+", 'repeats the group "(?:[^x]|a)+", whose alternatives can start with the same character'],
    ["(a)\\1", 'uses the backreference "\\1"'],
    ["(?<t>a)\\k<t>", 'uses the backreference "\\k<t>"'],
    [".*a.*a.*a.*a", "has 4 open-ended repetitions (*, + or {n,}) that can match the same characters"],
  ])("refuses %s", (pattern, hazard) => {
    expect(patternHazard(pattern)?.slice(0, hazard.length)).toBe(hazard);
  });

  it.each([
    "SUP-[0-9]{1,8}",
    "eu|us",
    "[A-Z]{2,5}-\\d{1,8}",
    "[a-z]+@[a-z]+\\.[a-z]+",
    "(?:[a-c]|[d-f])+",
    "(?:\\D|\\d)*",
    "(?:INV|PO)-\\d+(?:-[A-Z])?",
    "a{2,}b{3,}c*d+",
    "\\p{L}+",
    "[\\u{1F600}-\\u{1F64F}]+",
    "(?=\\d)\\d+",
  ])("accepts %s", (pattern) => {
    expect(patternHazard(pattern)).toBeUndefined();
  });

  it("accepts every pattern of the demo policy", () => {
    const patterns = demoPolicy.use_cases.flatMap((u) => Object.values(u.conditions?.context ?? {}).flatMap((rule) => rule.pattern ?? []));
    expect(patterns.length).toBeGreaterThan(0);
    for (const pattern of patterns) expect(patternHazard(pattern), pattern).toBeUndefined();
  });

  it("names the use case and the key in one line per refused pattern", () => {
    expect(compileProblems("(a+)+b")).toEqual([
      'use_cases[0].conditions.context.ticket.pattern: use case "crm.read", context "ticket": "(a+)+b" repeats the group "(a+)+", which itself contains a quantifier: matching can take exponential or high-degree polynomial time (ReDoS)',
    ]);
    expect(compileProblems("(a|a)*b")).toEqual([
      'use_cases[0].conditions.context.ticket.pattern: use case "crm.read", context "ticket": "(a|a)*b" repeats the group "(a|a)*", whose alternatives can start with the same character: matching can take exponential time (ReDoS)',
    ]);
    expect(compileProblems("(.*a){12}")).toEqual([
      'use_cases[0].conditions.context.ticket.pattern: use case "crm.read", context "ticket": "(.*a){12}" repeats the group "(.*a){12}", which itself contains a quantifier: matching can take exponential or high-degree polynomial time (ReDoS)',
    ]);
  });
});

describe("the cap on context values", () => {
  const ask = (policy: ReturnType<typeof withPattern>, ticket: string) =>
    decide(policy, "agent-a", { scope: "crm.read", context: { ticket } }, WEDNESDAY_NOON_UTC);

  it("refuses a value over the cap before matching it, naming the key", () => {
    // "a+" would match any run of a's: the refusal can only come from the cap, checked first.
    const policy = withPattern("a+");
    expect(ask(policy, "a".repeat(MAX_CONTEXT_VALUE_CHARS)).ok).toBe(true);
    expect(ask(policy, "a".repeat(MAX_CONTEXT_VALUE_CHARS + 1))).toEqual({
      ok: false,
      reason: { code: "context_mismatch", key: "ticket" },
    });
    expect(ask(policy, "a".repeat(100_000))).toEqual({ ok: false, reason: { code: "context_mismatch", key: "ticket" } });
  });
});
