import type { Agent, Budget, UseCase } from "../../schemas/policy.ts";

/** One limit the ledger enforces, named so a refusal can say exactly which budget ran out. */
export type BudgetRule =
  | { name: string; kind: "rate"; useCaseId?: string; perMinute: number; burst: number }
  | { name: string; kind: "daily"; useCaseId?: string; unit: "tokens" | string; cap: number };

/** The rules that apply to one token: the agent's own budget, then the use case's (per agent). Pure. */
export function budgetRules(agent: Agent, useCase: UseCase): BudgetRule[] {
  return [...rulesOf(agent.budget, `agent ${agent.id}`), ...rulesOf(useCase.budget, `use case ${useCase.id}`, useCase.id)];
}

function rulesOf(budget: Budget | undefined, owner: string, useCaseId?: string): BudgetRule[] {
  if (!budget) return [];
  const scope = useCaseId === undefined ? {} : { useCaseId };
  const rules: BudgetRule[] = [];
  if (budget.rate) {
    rules.push({
      name: `${owner}: ${budget.rate.per_minute} tokens per minute`,
      kind: "rate",
      ...scope,
      perMinute: budget.rate.per_minute,
      burst: budget.rate.burst ?? budget.rate.per_minute,
    });
  }
  if (budget.daily?.tokens !== undefined)
    rules.push({
      name: `${owner}: ${budget.daily.tokens} tokens per day`,
      kind: "daily",
      ...scope,
      unit: "tokens",
      cap: budget.daily.tokens,
    });
  for (const [unit, cap] of Object.entries(budget.daily?.units ?? {})) {
    rules.push({ name: `${owner}: ${cap} ${unit} per day`, kind: "daily", ...scope, unit, cap });
  }
  return rules;
}

/** What a token costs: one token plus each numeric limit it carries. */
export function tokenUnits(limits: Record<string, number | string | boolean>): Record<string, number> {
  return Object.fromEntries(Object.entries(limits).filter((entry): entry is [string, number] => typeof entry[1] === "number"));
}
