import { type CompiledPolicy, compilePolicy } from "../../core/policy/compile-policy.ts";
import type { Policy } from "../../schemas/policy.ts";

const KEY = { kid: "k1", kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" } as const;

/** A small policy for pure tests; `patch` edits the one use case "crm.read". */
export function policyWith(patch: Record<string, unknown> = {}, agentPatch: Record<string, unknown> = {}): CompiledPolicy {
  const document = {
    version: 1,
    agents: [
      { id: "agent-a", name: "A", keys: [KEY], ...agentPatch },
      { id: "agent-b", name: "B", keys: [KEY] },
    ],
    use_cases: [
      {
        id: "crm.read",
        description: "read customers",
        audiences: ["https://crm.example.com", "https://crm-eu.example.com"],
        actions: ["read", "list"],
        locations: ["https://crm.example.com/tables/customers", "https://crm.example.com/tables/orders"],
        limits: { max_rows: 100 },
        agents: ["agent-a"],
        ...patch,
      },
    ],
  } satisfies Omit<Policy, "agents" | "use_cases" | "trusted_issuers"> & Record<string, unknown>;
  return compilePolicy(document);
}

/** 2026-11-25 was a Wednesday. */
export const WEDNESDAY_NOON_UTC = new Date("2026-11-25T12:00:00Z");
