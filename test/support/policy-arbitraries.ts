/**
 * Random valid policies over a small set of names, for the policy properties: agents active or disabled, use cases
 * with random audiences, actions, locations, limits, TTLs, members, time windows, context rules and approval.
 * Small names on purpose: requests drawn from the same names hit the policy's rules often instead of never.
 */
import fc from "fast-check";
import type { Vocabulary } from "./arbitraries.ts";

/** The names every generated policy draws from (and requests too: `POLICY_WORDS` is their vocabulary). */
export const POLICY_WORDS = {
  agents: ["agent-a", "agent-b", "agent-c"],
  useCases: ["uc.read", "uc.write", "uc.export"],
  audiences: ["https://a.example", "https://b.example", "https://c.example"],
  actions: ["read", "write", "export", "delete"],
  locations: ["https://a.example/t1", "https://a.example/t2", "https://b.example/t3"],
  // "constructor" is a context key an object inherits: a rule on it must still read only what the agent sent.
  contextKeys: ["ticket", "region", "constructor"],
  // Alternation and optional groups, where a pattern that is not anchored as a whole would match a prefix.
  patterns: ["SUP-[0-9]{1,8}", "eu|us", "[a-z]{2}-[0-9]+", "[0-9]+(\\.[0-9]{1,2})?"],
} as const satisfies Vocabulary & { agents: readonly string[] };

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
/** Public keys are not used by `decide`; any well-formed one will do. */
const KEY = { kid: "k1", kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" } as const;

const clock = (minutes: number) => `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;

/** A UTC window that does not wrap midnight (the schema's rule): a start in the morning, an end later that day. */
const timeWindow = fc.record({
  days: fc.subarray([...DAYS], { minLength: 1 }),
  start: fc.integer({ min: 0, max: 12 * 60 - 1 }).map(clock),
  end: fc.integer({ min: 12 * 60, max: 24 * 60 - 1 }).map(clock),
});

const contextRule = fc.record(
  { required: fc.boolean(), pattern: fc.constantFrom(...POLICY_WORDS.patterns) },
  { requiredKeys: ["required"] },
);

const conditions = fc.record(
  {
    // One use case in three: outside its windows every other rule goes unexercised.
    time_windows: fc.oneof(
      { weight: 2, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.array(timeWindow, { minLength: 1, maxLength: 2 }) },
    ),
    context: fc.dictionary(fc.constantFrom(...POLICY_WORDS.contextKeys), contextRule, { maxKeys: 2 }),
    intent: fc.constantFrom("required" as const, "optional" as const),
  },
  { requiredKeys: ["time_windows", "context", "intent"] },
);

/** Approval by someone other than every owner, so that the policy stays valid whoever owns the agents. */
const APPROVAL = { approvers: ["approver@example.com"], approver_auth: [], link_only: true };

function useCase(id: string) {
  return fc.record(
    {
      id: fc.constant(id),
      description: fc.constant(`use case ${id}`),
      audiences: fc.subarray([...POLICY_WORDS.audiences], { minLength: 1 }),
      actions: fc.subarray([...POLICY_WORDS.actions], { minLength: 1 }),
      locations: fc.subarray([...POLICY_WORDS.locations]),
      limits: fc.dictionary(
        fc.constantFrom("max_rows", "max_cents", "tier"),
        fc.oneof(fc.nat(), fc.string({ maxLength: 8 }), fc.boolean()),
        {
          maxKeys: 2,
        },
      ),
      max_ttl_seconds: fc.integer({ min: 30, max: 3600 }),
      agents: fc.subarray([...POLICY_WORDS.agents], { minLength: 1 }),
      conditions,
      approval: fc.constant(APPROVAL),
    },
    { requiredKeys: ["id", "description", "audiences", "actions", "locations", "limits", "max_ttl_seconds", "agents", "conditions"] },
  );
}

function agent(id: string) {
  return fc.record(
    {
      id: fc.constant(id),
      name: fc.constant(`Agent ${id}`),
      owner: fc.constantFrom("owner@example.com", "other-owner@example.com"),
      status: fc.oneof({ weight: 7, arbitrary: fc.constant("active") }, { weight: 1, arbitrary: fc.constant("disabled") }),
      keys: fc.constant([KEY]),
    },
    { requiredKeys: ["id", "name", "status", "keys"] },
  );
}

/** A policy document that `compilePolicy` accepts; failing to compile is a bug in this generator. */
export const policyDocumentArb = fc.record({
  version: fc.constant(1),
  agents: fc.tuple(...POLICY_WORDS.agents.map(agent)),
  use_cases: fc.tuple(...POLICY_WORDS.useCases.map(useCase)),
});
