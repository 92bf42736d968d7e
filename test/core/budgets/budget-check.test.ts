import { describe, expect, it } from "vitest";
import { type BudgetState, checkBudgets } from "../../../core/budgets/budget-check.ts";
import { budgetRules, tokenUnits } from "../../../core/budgets/budget-rules.ts";
import { DAY_MS, HOUR_MS } from "../../../lib/time.ts";
import { AgentSchema, UseCaseSchema } from "../../../schemas/policy.ts";

const agent = AgentSchema.parse({
  id: "a",
  name: "A",
  keys: [{ kid: "k", kty: "EC", crv: "P-256", x: "A", y: "A" }],
  budget: { rate: { per_minute: 60, burst: 2 }, daily: { tokens: 3 } },
});
const useCase = UseCaseSchema.parse({
  id: "u",
  description: "d",
  audiences: ["https://s"],
  actions: ["read"],
  agents: ["a"],
  limits: { max_rows: 100, mode: "fast" },
  budget: { daily: { units: { max_rows: 250 } } },
});
const rules = budgetRules(agent, useCase);
const empty: BudgetState = { buckets: new Map(), dailyUsed: new Map(), dailyFreesAt: new Map() };
const NOW = 1_800_000_000_000;

describe("budgets", () => {
  it("names every rule after its owner, so a refusal says which budget ran out", () => {
    expect(rules.map((r) => r.name)).toEqual([
      "agent a: 60 tokens per minute",
      "agent a: 3 tokens per day",
      "use case u: 250 max_rows per day",
    ]);
  });

  it("charges a token its numeric limits as cost units", () => {
    expect(tokenUnits(useCase.limits)).toEqual({ max_rows: 100 });
  });

  it("spends the burst, then refuses with the time until a token drips back", () => {
    const first = checkBudgets(rules, empty, { units: {} }, NOW);
    if (!first.ok) throw new Error(first.budget);
    const second = checkBudgets(rules, { ...empty, buckets: first.buckets }, { units: {} }, NOW);
    if (!second.ok) throw new Error(second.budget);
    expect(checkBudgets(rules, { ...empty, buckets: second.buckets }, { units: {} }, NOW)).toEqual({
      ok: false,
      budget: "agent a: 60 tokens per minute",
      retryAfterSeconds: 1,
    });
    // One second later, at 60 per minute, one token has dripped back.
    expect(checkBudgets(rules, { ...empty, buckets: second.buckets }, { units: {} }, NOW + 1000).ok).toBe(true);
  });

  it("counts cost units against a daily cap, not just tokens", () => {
    const used = {
      ...empty,
      dailyUsed: new Map([["use case u: 250 max_rows per day", 200]]),
      dailyFreesAt: new Map([["use case u: 250 max_rows per day", NOW + DAY_MS - 1000]]),
    };
    expect(checkBudgets(rules, used, { units: { max_rows: 50 } }, NOW).ok).toBe(true);
    expect(checkBudgets(rules, used, { units: { max_rows: 51 } }, NOW)).toEqual({
      ok: false,
      budget: "use case u: 250 max_rows per day",
      retryAfterSeconds: (DAY_MS - 1000) / 1000,
    });
  });

  it("refuses the token beyond a daily token cap until the oldest one ages out", () => {
    const used = {
      ...empty,
      dailyUsed: new Map([["agent a: 3 tokens per day", 3]]),
      dailyFreesAt: new Map([["agent a: 3 tokens per day", NOW + 60_000]]),
    };
    expect(checkBudgets(rules, used, { units: {} }, NOW)).toEqual({
      ok: false,
      budget: "agent a: 3 tokens per day",
      retryAfterSeconds: 60,
    });
  });

  it("refuses a charge that alone exceeds a daily cap for as long as a charge made now would count", () => {
    // NOW is on the hour: its hour stays in the window for 25 hours (core/budgets/daily-window.ts).
    expect(checkBudgets(rules, empty, { units: { max_rows: 251 } }, NOW)).toEqual({
      ok: false,
      budget: "use case u: 250 max_rows per day",
      retryAfterSeconds: (DAY_MS + HOUR_MS) / 1000,
    });
  });

  it("never lets a bucket exceed its burst, however long it rested", () => {
    const rested = checkBudgets(
      rules,
      { ...empty, buckets: new Map([["agent a: 60 tokens per minute", { tokens: 0, updatedAt: 0 }]]) },
      { units: {} },
      NOW,
    );
    expect(rested.ok && rested.buckets.get("agent a: 60 tokens per minute")?.tokens).toBe(1);
  });
});
