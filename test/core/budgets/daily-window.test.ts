import { describe, expect, it } from "vitest";
import { firstHourAt, hourOf, leavesWindowAt, WINDOW_HOURS, windowUsage } from "../../../core/budgets/daily-window.ts";
import { DAY_MS, HOUR_MS, MINUTE_MS } from "../../../lib/time.ts";

/** Half past an hour, so that whole-hour windows show. */
const NOW = 1_800_000_000_000 + 30 * MINUTE_MS;
const H = hourOf(NOW);

describe("daily window", () => {
  it("counts the current hour and the 24 before it, and no older hour", () => {
    expect(firstHourAt(NOW)).toBe(H - WINDOW_HOURS);
    const hours = new Map([
      [H - 25, 100],
      [H - 24, 3],
      [H - 1, 5],
      [H, 2],
    ]);
    expect(windowUsage(hours, NOW).used).toBe(10);
  });

  it("stops counting an hour's charges exactly when it says they leave", () => {
    const hours = new Map([[H, 1]]);
    expect(windowUsage(hours, leavesWindowAt(H) - 1).used).toBe(1);
    expect(windowUsage(hours, leavesWindowAt(H)).used).toBe(0);
    expect(firstHourAt(leavesWindowAt(H) - 1)).toBe(H);
    expect(firstHourAt(leavesWindowAt(H))).toBe(H + 1);
  });

  it("keeps every charge for at least the day the policy promises, and at most an hour more", () => {
    for (const at of [H * HOUR_MS, NOW, (H + 1) * HOUR_MS - 1]) {
      const kept = leavesWindowAt(hourOf(at)) - at;
      expect(kept).toBeGreaterThan(DAY_MS);
      expect(kept).toBeLessThanOrEqual(DAY_MS + HOUR_MS);
    }
  });

  it("frees room when the oldest counted charge leaves, about a day after it was made", () => {
    const hours = new Map([
      [H - 30, 7],
      [H - 20, 1],
      [H - 2, 1],
    ]);
    expect(windowUsage(hours, NOW)).toEqual({ used: 2, freesAt: NOW + 4 * HOUR_MS + 30 * MINUTE_MS });
  });

  it("does not take an hour whose charges were reported back to zero for the oldest charge", () => {
    const hours = new Map([
      [H - 10, 0],
      [H - 3, 4],
    ]);
    expect(windowUsage(hours, NOW)).toEqual({ used: 4, freesAt: leavesWindowAt(H - 3) });
  });

  it("has nothing to free when nothing is counted", () => {
    expect(windowUsage(new Map(), NOW)).toEqual({ used: 0, freesAt: undefined });
    expect(windowUsage(new Map([[H - 25, 9]]), NOW)).toEqual({ used: 0, freesAt: undefined });
  });
});
