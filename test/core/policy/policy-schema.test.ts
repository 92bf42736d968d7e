/**
 * policy/writ-policy.schema.json, the JSON Schema editors use to complete and check a policy file: generated from
 * the zod schema by scripts/policy-schema.ts, so it must never drift from it, and it must accept what the broker
 * accepts and refuse the shape mistakes the broker refuses.
 */
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import demoPolicy from "../../../policy/demo.policy.json";
import { PolicySchema } from "../../../schemas/policy.ts";
import { POLICY_SCHEMA_FILE, policySchemaText } from "../../../scripts/policy-schema.ts";

const committed = readFileSync(POLICY_SCHEMA_FILE, "utf8");
// Formats are left to the patterns zod writes beside them (an email's pattern is stricter than ajv's format).
const validate = new Ajv2020({ allErrors: true, validateFormats: false }).compile(JSON.parse(committed));

/** The demo policy with its first use case changed. */
function withFirstUseCase(change: Record<string, unknown>): unknown {
  const [first, ...rest] = demoPolicy.use_cases;
  return { ...demoPolicy, use_cases: [{ ...first, ...change }, ...rest] };
}

describe("policy/writ-policy.schema.json", () => {
  it("is exactly what scripts/policy-schema.ts generates from the zod schema now (run it after changing schemas/policy.ts)", () => {
    expect(committed).toBe(policySchemaText());
  });

  it("accepts the demo policy, which the broker accepts", () => {
    expect(PolicySchema.safeParse(demoPolicy).success).toBe(true);
    expect(validate.errors ?? validate(demoPolicy)).toBe(true);
  });

  it("accepts a policy that leaves out every field with a default", () => {
    const minimal = {
      version: 1,
      agents: [{ id: "bot", name: "Bot", keys: [{ kid: "bot-1", kty: "OKP", crv: "Ed25519", x: "AAAA" }] }],
      use_cases: [{ id: "read", description: "Read", audiences: ["https://api.example.com"], actions: ["read"], agents: ["bot"] }],
    };
    expect(PolicySchema.safeParse(minimal).success).toBe(true);
    expect(validate(minimal)).toBe(true);
  });

  it.each([
    ["a misspelled top-level field", { ...demoPolicy, use_case: [] }, "/"],
    ["a misspelled use-case field", withFirstUseCase({ max_ttl: 60 }), "/use_cases/0"],
    ["a limit that is an object", withFirstUseCase({ limits: { max_rows: { n: 1 } } }), "/use_cases/0/limits/max_rows"],
    [
      "a context rule with an unknown member",
      withFirstUseCase({ conditions: { context: { ticket: { regex: "x" } } } }),
      "/use_cases/0/conditions/context/ticket",
    ],
    ["an empty limit name", withFirstUseCase({ limits: { "": 1 } }), "/use_cases/0/limits"],
    ["a TTL over the broker's maximum", withFirstUseCase({ max_ttl_seconds: 86_400 }), "/use_cases/0/max_ttl_seconds"],
  ])("refuses %s, as the broker does, at the field", (_name, policy, at) => {
    expect(PolicySchema.safeParse(policy).success).toBe(false);
    expect(validate(policy)).toBe(false);
    expect(validate.errors?.map((e) => e.instancePath || "/")).toContain(at);
  });
});
