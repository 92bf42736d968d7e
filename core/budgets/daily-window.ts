import { HOUR_MS } from "../../lib/time.ts";

/**
 * The rolling window of a daily cap, defined once. Charges are kept as totals per clock hour, so a check sums at
 * most 25 numbers however many tokens the agent was issued; the window is therefore whole hours: the current hour
 * and the 24 before it, between 24 and 25 hours long, never less than the day the policy promises.
 */
export const WINDOW_HOURS = 24;

/** The hour whose total a charge made at `ms` (epoch ms) goes into. */
export function hourOf(ms: number): number {
  return Math.floor(ms / HOUR_MS);
}

/** The oldest hour still counted at `now`: every hour from it up to the current one is in the window. */
export function firstHourAt(now: number): number {
  return hourOf(now) - WINDOW_HOURS;
}

/** When the charges of `hour` stop counting (epoch ms): the first instant at which `firstHourAt` has passed it. */
export function leavesWindowAt(hour: number): number {
  return (hour + WINDOW_HOURS + 1) * HOUR_MS;
}

/** What a daily cap has used at `now`, and when its oldest counted charge leaves the window (absent: none counted). */
export type WindowUsage = { used: number; freesAt: number | undefined };

/**
 * A daily cap's use at `now` from its totals by hour. An hour whose total is not positive holds no charge (a usage
 * report may have taken it back), so it cannot be the one whose leaving frees room.
 */
export function windowUsage(hours: ReadonlyMap<number, number>, now: number): WindowUsage {
  const first = firstHourAt(now);
  let used = 0;
  let oldest: number | undefined;
  for (const [hour, amount] of hours) {
    if (hour < first) continue;
    used += amount;
    if (amount > 0 && (oldest === undefined || hour < oldest)) oldest = hour;
  }
  return { used, freesAt: oldest === undefined ? undefined : leavesWindowAt(oldest) };
}
