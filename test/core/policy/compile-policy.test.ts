import { describe, expect, it } from "vitest";
import { eligibility } from "../../../core/approvals/quorum.ts";
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

  it("refuses __proto__ as a limit or context key loudly instead of dropping it", () => {
    const limits = JSON.parse('{"__proto__": 1, "max_rows": 100}') as Record<string, number>;
    expect(problemsOf(() => policyWith({ limits })).join()).toMatch(/limits.*__proto__ is a reserved name/);
    const context = JSON.parse('{"__proto__": {"required": true}}') as Record<string, unknown>;
    expect(problemsOf(() => policyWith({ conditions: { context } })).join()).toMatch(/context.*__proto__ is a reserved name/);
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

// Issue 11: one person must be one approver. Access and passkeys see `Dana@x` and `dana@x` as the same person.
describe("addresses", () => {
  const approval = (approvers: string[], patch: Record<string, unknown> = {}) => ({ approval: { approvers, quorum: 1, ...patch } });

  it("normalises approvers, group members and owners once, when the policy is compiled", () => {
    const policy = policyWith(
      approval(["Dana@Example.com", "ERIN@example.com"], { groups: { finance: { members: ["Erin@Example.COM"] } } }),
      { owner: "Alice@Example.com" },
    );
    expect(policy.useCases.get("crm.read")?.approval).toMatchObject({
      approvers: ["dana@example.com", "erin@example.com"],
      groups: { finance: { members: ["erin@example.com"] } },
    });
    expect(policy.agents.get("agent-a")?.owner).toBe("alice@example.com");
    expect([...policy.approvers]).toEqual(["dana@example.com", "erin@example.com"]);
  });

  it("refuses a policy that lists one approver twice under two spellings", () => {
    expect(problemsOf(() => policyWith(approval(["dana@example.com", "Dana@Example.com"])))).toEqual([
      'use_cases[0].approval.approvers[1]: "dana@example.com" is already listed as approvers[0] (addresses are compared case-insensitively): one person would count twice',
    ]);
  });

  it("refuses a group that lists one member twice under two spellings", () => {
    const groups = { finance: { members: ["erin@example.com", "ERIN@example.com"] } };
    expect(problemsOf(() => policyWith(approval(["dana@example.com", "erin@example.com"], { groups })))).toEqual([
      'use_cases[0].approval.groups.finance.members[1]: "erin@example.com" is already listed as members[0] (addresses are compared case-insensitively): one person would count twice',
    ]);
  });

  it("bars an owner whose address is spelt differently from the approver's", () => {
    const policy = policyWith(approval(["dana@example.com", "alice@example.com"]), { owner: "Alice@Example.COM" });
    const settings = policy.useCases.get("crm.read")?.approval;
    if (!settings) throw new Error("no approval settings");
    expect(eligibility(settings, "alice@example.com", policy.agents.get("agent-a")?.owner, [])).toEqual({ ok: false, why: "owner_barred" });
    // Separation of duties must still leave the quorum reachable.
    expect(problemsOf(() => policyWith(approval(["alice@example.com"]), { owner: "ALICE@example.com" }))).toEqual([
      'use_cases[0].approval.quorum: agent "agent-a" can never reach the quorum: its owner alice@example.com may not approve its requests',
    ]);
  });
});
