import { describe, expect, it } from "vitest";
import { compilePolicy, PolicyError } from "../../../core/policy/compile-policy.ts";
import demoPolicy from "../../../policy/demo.policy.json";
import { policyWith } from "../../support/policy-fixture.ts";

function problemsOf(build: () => unknown): string[] {
  try {
    build();
  } catch (error) {
    if (error instanceof PolicyError) return error.problems;
    throw error;
  }
  throw new Error("expected a PolicyError");
}

describe("policy schema", () => {
  it("accepts the demo policy", () => {
    const policy = compilePolicy(demoPolicy);
    expect(policy.agents.size).toBeGreaterThan(0);
    expect(policy.useCases.get("crm.customers.read")?.limits).toEqual({ max_rows: 100 });
  });

  it("points at the bad field of a broken use case", () => {
    expect(problemsOf(() => policyWith({ max_ttl_seconds: 86_400 }))).toEqual([
      expect.stringMatching(/^use_cases\[0\]\.max_ttl_seconds: /),
    ]);
    expect(problemsOf(() => policyWith({ audiences: [] }))).toEqual([expect.stringMatching(/^use_cases\[0\]\.audiences: /)]);
    expect(problemsOf(() => policyWith({ conditions: { context: { t: { pattern: "(" } } } }))).toEqual([
      "use_cases[0].conditions.context.t.pattern: not a valid regular expression",
    ]);
  });

  it("refuses references to unknown agents and duplicate ids", () => {
    expect(problemsOf(() => policyWith({ agents: ["ghost"] }))).toEqual(['use_cases[0].agents[0]: unknown agent "ghost"']);
    expect(problemsOf(() => policyWith({}, { id: "agent-b" }))).toContain('agents[1].id: duplicate agent id "agent-b"');
  });

  it("refuses a private key member in an agent's registered key", () => {
    expect(problemsOf(() => policyWith({}, { keys: [{ kid: "k", kty: "EC", crv: "P-256", x: "A", y: "A", d: "secret" }] })).join()).toMatch(
      /agents\[0\]\.keys\[0\]/,
    );
  });

  it("refuses unknown fields rather than ignoring a misspelt constraint", () => {
    expect(problemsOf(() => policyWith({ max_ttl: 60 })).join()).toMatch(/use_cases\[0\].*max_ttl/);
  });

  it("refuses a quorum larger than the approver list", () => {
    expect(problemsOf(() => policyWith({ approval: { approvers: ["a@example.com"], quorum: 2 } }))).toEqual([
      "use_cases[0].approval.quorum: quorum is larger than the number of approvers",
    ]);
  });

  it("refuses time windows that end before they start", () => {
    expect(problemsOf(() => policyWith({ conditions: { time_windows: [{ start: "18:00", end: "08:00" }] } })).join()).toMatch(
      /use_cases\[0\]\.conditions\.time_windows\[0\]/,
    );
  });
});
