import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compilePolicy } from "../core/policy/compile-policy.ts";
import { type BenchAgent, BUDGETED_USE_CASE, USE_CASE } from "./agents.ts";
import { APPROVAL_USE_CASE, BENCH_APPROVER } from "./ciba.ts";

/**
 * Budgets the bench can never exhaust, so every request is a full budgeted issuance (rate bucket, daily token
 * count and daily units all read, checked and written) and none is refused.
 */
const UNREACHABLE_BUDGET = {
  rate: { per_minute: 100_000, burst: 100_000 },
  daily: { tokens: 1_000_000_000, units: { max_rows: 1_000_000_000_000 } },
};

export type BenchPolicy = {
  policyPath: string;
  /** Why there is no budgeted use case (the policy schema of this tree refuses budgets), if there is none. */
  budgetsMissing?: string;
  dispose: () => Promise<void>;
};

/**
 * The broker's policy for the bench: one approval-free use case without a budget, where the policy schema has
 * budgets the same use case with one, and the same use case behind one approval; every bench agent may use all.
 * The demo policy cannot serve: its agents have real budgets and rate limits that a load run exhausts in seconds.
 * Written to a temporary file and
 * bundled with `wrangler --alias writ-policy:<file>`, so the broker code under test is the production code.
 * Validated here first, as `npm run policy:check` would.
 */
export async function writeBenchPolicy(agents: readonly BenchAgent[]): Promise<BenchPolicy> {
  const useCase = (id: string) => ({
    id,
    description: "Read rows of the customers table of the CRM, at most 100 per call.",
    audiences: ["https://crm.example.com"],
    actions: ["read"],
    locations: ["https://crm.example.com/tables/customers"],
    limits: { max_rows: 100 },
    max_ttl_seconds: 300,
    agents: agents.map((agent) => agent.id),
  });
  const document = (budgeted: boolean) => ({
    version: 1,
    agents: agents.map((agent) => ({ id: agent.id, name: `Bench agent ${agent.id}`, status: "active", keys: [agent.publicJwk] })),
    use_cases: [
      useCase(USE_CASE),
      ...(budgeted ? [{ ...useCase(BUDGETED_USE_CASE), budget: UNREACHABLE_BUDGET }] : []),
      // One approval, by the emailed link alone, so the bench can approve requests without a browser.
      { ...useCase(APPROVAL_USE_CASE), approval: { approvers: [BENCH_APPROVER], quorum: 1, approver_auth: [], link_only: true } },
    ],
  });

  let chosen = document(true);
  let budgetsMissing: string | undefined;
  try {
    compilePolicy(chosen);
  } catch (error) {
    // A tree without budgets refuses the unknown member; the bench then measures what exists and says why.
    budgetsMissing = `the policy schema refuses a use case budget (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`;
    chosen = document(false);
    compilePolicy(chosen);
  }
  const dir = await mkdtemp(join(tmpdir(), "writ-bench-policy-"));
  const policyPath = join(dir, "bench.policy.json");
  await writeFile(policyPath, JSON.stringify(chosen, null, 2));
  const dispose = () => rm(dir, { recursive: true, force: true });
  return budgetsMissing === undefined ? { policyPath, dispose } : { policyPath, budgetsMissing, dispose };
}
