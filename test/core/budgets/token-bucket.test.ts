import { describe, expect, it } from "vitest";
import { checkBudgets } from "../../../core/budgets/budget-check.ts";
import { budgetsRemaining } from "../../../core/budgets/budget-remaining.ts";
import type { BudgetRule } from "../../../core/budgets/budget-rules.ts";
import { refill, untilNextToken } from "../../../core/budgets/token-bucket.ts";
import { SECOND_MS } from "../../../lib/time.ts";

const NOW = 1_800_000_000_000;
const RATE = { perMinute: 60, burst: 3 };

describe("token bucket", () => {
  it("starts full", () => {
    expect(refill(undefined, RATE, NOW)).toEqual({ tokens: 3, updatedAt: NOW });
  });

  it("drips tokens back at the per-minute rate, never above the burst", () => {
    expect(refill({ tokens: 0.5, updatedAt: NOW }, RATE, NOW + 1500)).toEqual({ tokens: 2, updatedAt: NOW + 1500 });
    expect(refill({ tokens: 0, updatedAt: NOW }, RATE, NOW + 60 * SECOND_MS).tokens).toBe(3);
  });

  it("does not drain when the clock goes backwards", () => {
    expect(refill({ tokens: 1, updatedAt: NOW }, RATE, NOW - 5000).tokens).toBe(1);
  });

  it("says how long until one whole token is back", () => {
    expect(untilNextToken({ tokens: 0.25, updatedAt: NOW }, RATE)).toBe(750);
    expect(untilNextToken({ tokens: 1, updatedAt: NOW }, RATE)).toBe(0);
  });
});

describe("a request whose clock is behind the stored bucket (it waited for a batched ledger round trip)", () => {
  it("neither refills nor moves the bucket's time back, so the next refill counts no interval twice", () => {
    const stored = { tokens: 0, updatedAt: NOW };
    const late = refill(stored, RATE, NOW - 2 * SECOND_MS);
    expect(late).toEqual({ tokens: 0, updatedAt: NOW });
    // One second after the stored time: exactly one token dripped back (60 a minute), not three.
    expect(refill(late, RATE, NOW + SECOND_MS)).toEqual({ tokens: 1, updatedAt: NOW + SECOND_MS });
  });

  it("charges a late request from the stored state and keeps the stored time", () => {
    const rules: BudgetRule[] = [{ name: "rate", kind: "rate", perMinute: 60, burst: 3 }];
    const state = { buckets: new Map([["rate", { tokens: 2, updatedAt: NOW }]]), dailyUsed: new Map(), dailyFreesAt: new Map() };
    const checked = checkBudgets(rules, state, { units: {} }, NOW - 5 * SECOND_MS);
    expect(checked).toEqual({ ok: true, buckets: new Map([["rate", { tokens: 1, updatedAt: NOW }]]) });
  });
});

describe("what is left of each budget", () => {
  const rules: BudgetRule[] = [
    { name: "rate", kind: "rate", perMinute: 60, burst: 3 },
    { name: "daily", kind: "daily", unit: "tokens", cap: 2 },
  ];

  it("counts whole tokens refilled until now, and units under a daily cap", () => {
    const state = { buckets: new Map([["rate", { tokens: 0.5, updatedAt: NOW }]]), dailyUsed: new Map([["daily", 1]]) };
    expect(budgetsRemaining(rules, state, NOW + 1000)).toEqual([
      { budget: "rate", remaining: 1 },
      { budget: "daily", remaining: 1 },
    ]);
  });

  it("reports untouched budgets as full and a cap overrun by a usage report as zero, never negative", () => {
    expect(budgetsRemaining(rules, { buckets: new Map(), dailyUsed: new Map([["daily", 5]]) }, NOW)).toEqual([
      { budget: "rate", remaining: 3 },
      { budget: "daily", remaining: 0 },
    ]);
  });
});
