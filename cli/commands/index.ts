import type { LazyEntry } from "../framework/command.ts";

/**
 * Every command, in the order `writ --help` lists them. Each group's module loads only when it runs, so that a
 * command starts without the libraries of the others (recheck, the SDK, the verifier).
 */
export const COMMANDS: readonly LazyEntry[] = [
  { name: "agent", load: async () => (await import("./agent.ts")).agentGroup },
  { name: "keygen", load: async () => (await import("./keys.ts")).keygen },
  { name: "keys", load: async () => (await import("./keys.ts")).keysGroup },
  { name: "policy", load: async () => (await import("./policy.ts")).policyGroup },
  { name: "token", load: async () => (await import("./token.ts")).tokenGroup },
  { name: "audit", load: async () => (await import("./audit.ts")).auditGroup },
];
