import { describe, expect, it } from "vitest";
import { withinTimeWindows } from "../../../core/policy/conditions.ts";
import { decide } from "../../../core/policy/decide.ts";
import { policyWith, WEDNESDAY_NOON_UTC } from "../../support/policy-fixture.ts";

const weekdays = [{ days: ["mon", "tue", "wed", "thu", "fri"] as ("mon" | "tue" | "wed" | "thu" | "fri")[], start: "08:00", end: "18:00" }];

describe("conditions", () => {
  it("holds inside a UTC time window and fails outside it", () => {
    expect(withinTimeWindows(weekdays, WEDNESDAY_NOON_UTC)).toBe(true);
    expect(withinTimeWindows(weekdays, new Date("2026-11-25T07:59:59Z"))).toBe(false);
    expect(withinTimeWindows(weekdays, new Date("2026-11-25T08:00:00Z"))).toBe(true);
    // The end is exclusive: 18:00 is already outside.
    expect(withinTimeWindows(weekdays, new Date("2026-11-25T18:00:00Z"))).toBe(false);
    expect(withinTimeWindows(weekdays, new Date("2026-11-28T12:00:00Z"))).toBe(false); // Saturday
  });

  it("refuses a request outside the time window with the rule's name", () => {
    const policy = policyWith({ conditions: { time_windows: weekdays } });
    expect(decide(policy, "agent-a", { scope: "crm.read" }, new Date("2026-11-29T12:00:00Z"))).toEqual({
      ok: false,
      reason: { code: "outside_time_window" },
    });
    expect(decide(policy, "agent-a", { scope: "crm.read" }, WEDNESDAY_NOON_UTC).ok).toBe(true);
  });

  it("requires declared context keys and matches the whole value against the pattern", () => {
    const policy = policyWith({ conditions: { context: { ticket: { pattern: "SUP-[0-9]+" } } } });
    const ask = (context?: Record<string, string | number | boolean>) =>
      decide(policy, "agent-a", { scope: "crm.read", context }, WEDNESDAY_NOON_UTC);
    expect(ask()).toEqual({ ok: false, reason: { code: "context_missing", key: "ticket" } });
    expect(ask({ ticket: "SUP-42" }).ok).toBe(true);
    // Anchored: a valid ticket id inside a longer value does not satisfy the rule.
    expect(ask({ ticket: "x SUP-42" })).toEqual({ ok: false, reason: { code: "context_mismatch", key: "ticket" } });
    expect(ask({ ticket: "SUP-42; drop" })).toEqual({ ok: false, reason: { code: "context_mismatch", key: "ticket" } });
  });

  it("checks an optional context key only when present", () => {
    const policy = policyWith({ conditions: { context: { region: { required: false, pattern: "eu|us" } } } });
    expect(decide(policy, "agent-a", { scope: "crm.read" }, WEDNESDAY_NOON_UTC).ok).toBe(true);
    expect(decide(policy, "agent-a", { scope: "crm.read", context: { region: "apac" } }, WEDNESDAY_NOON_UTC)).toEqual({
      ok: false,
      reason: { code: "context_mismatch", key: "region" },
    });
  });

  it("reads only the context the agent sent, never a key every object inherits", () => {
    const policy = policyWith({
      conditions: { context: { constructor: { required: true }, toString: { required: false, pattern: "x" } } },
    });
    expect(decide(policy, "agent-a", { scope: "crm.read", context: {} }, WEDNESDAY_NOON_UTC)).toEqual({
      ok: false,
      reason: { code: "context_missing", key: "constructor" },
    });
    expect(decide(policy, "agent-a", { scope: "crm.read", context: { constructor: "c" } }, WEDNESDAY_NOON_UTC).ok).toBe(true);
  });

  it("matches numbers and booleans by their text", () => {
    const policy = policyWith({ conditions: { context: { priority: { pattern: "[1-3]" } } } });
    expect(decide(policy, "agent-a", { scope: "crm.read", context: { priority: 2 } }, WEDNESDAY_NOON_UTC).ok).toBe(true);
    expect(decide(policy, "agent-a", { scope: "crm.read", context: { priority: 7 } }, WEDNESDAY_NOON_UTC).ok).toBe(false);
  });
});
