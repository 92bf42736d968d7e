/**
 * `npm run policy:check`, which also runs before every `wrangler deploy`: the structural ReDoS check of compile,
 * then recheck's thorough analysis of every context pattern (issue 11). Each problem is one line naming the field,
 * the use case and the key.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { PolicyError } from "../../../core/policy/compile-policy.ts";
import demoPolicy from "../../../policy/demo.policy.json";
import { checkPolicy } from "../../../scripts/policy-check.ts";

/** The demo policy with its first use case's context patterns replaced. */
function policyWith(patterns: Record<string, string>): unknown {
  const [first, ...rest] = demoPolicy.use_cases;
  const context = Object.fromEntries(Object.entries(patterns).map(([key, pattern]) => [key, { pattern }]));
  return { ...demoPolicy, use_cases: [{ ...first, conditions: { context } }, ...rest] };
}

async function problemsOf(document: unknown): Promise<string[]> {
  try {
    await checkPolicy(document);
  } catch (error) {
    if (error instanceof PolicyError) return error.problems;
    throw error;
  }
  return [];
}

const where = (key: string) => `use_cases[0].conditions.context.${key}.pattern: use case "crm.customers.read", context "${key}"`;
const EXPONENTIAL = { nested: "(a+)+b", overlap: "(a|a)*b", power: "(.*a){12}" };
const EXPONENTIAL_PROBLEMS = [
  `${where("nested")}: "(a+)+b" repeats the group "(a+)+", which itself contains a quantifier: matching can take exponential or high-degree polynomial time (ReDoS)`,
  `${where("overlap")}: "(a|a)*b" repeats the group "(a|a)*", whose alternatives can start with the same character: matching can take exponential time (ReDoS)`,
  `${where("power")}: "(.*a){12}" repeats the group "(.*a){12}", which itself contains a quantifier: matching can take exponential or high-degree polynomial time (ReDoS)`,
];

describe("npm run policy:check", () => {
  const folder = mkdtempSync(join(tmpdir(), "writ-policy-check-"));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it("passes the demo policy", async () => {
    expect(await problemsOf(demoPolicy)).toEqual([]);
  });

  it("rejects (a+)+b, (a|a)*b and (.*a){12} with one line each naming the use case and key, and exit code 1", async () => {
    const path = join(folder, "exponential.json");
    writeFileSync(path, JSON.stringify(policyWith(EXPONENTIAL)));
    const failed = await promisify(execFile)(process.execPath, ["scripts/policy-check.ts", path]).then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(failed).toMatchObject({ code: 1, stdout: "" });
    expect(failed?.stderr.split("\n")).toEqual([`policy check failed: ${path}`, ...EXPONENTIAL_PROBLEMS.map((p) => `  - ${p}`), ""]);
  });

  it("rejects a polynomial pattern the structural check lets through, as recheck finds it", async () => {
    // a*a*b passes compile (no nesting, two open-ended repetitions) but backtracks quadratically.
    const [problem, ...more] = await problemsOf(policyWith({ ticket: "a*a*b", region: "eu|us" }));
    expect(more).toEqual([]);
    expect(problem).toMatch(/ e\.g\. on .+: rewrite it so that every character can be matched only one way$/);
    expect(problem?.startsWith(`${where("ticket")}: "a*a*b" can take 2nd degree polynomial time to match (ReDoS), e.g. on `)).toBe(true);
  });
});
