import { MINUTE_MS, SECOND_MS, utcDateTime } from "../../lib/time.ts";

/**
 * Every date and time a page shows, always in UTC (approvers and admins sit in any time zone):
 * `2026-11-20 09:30:15 UTC`, or to the minute `2026-11-20 09:30 UTC`.
 */
export function utc(ms: number, precision: "second" | "minute" = "second"): string {
  return utcDateTime(ms, precision);
}

/** A token lifetime: "5 minutes", "2 hours", "90 seconds". */
export function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} hour${seconds === 3600 ? "" : "s"}`;
  if (seconds % 60 === 0) return `${seconds / 60} minute${seconds === 60 ? "" : "s"}`;
  return `${seconds} seconds`;
}

/** How long an approver has left to decide, rounded down: a deadline must not look later than it is. */
export function timeLeft(ms: number): string {
  if (ms <= 0) return "no time left";
  const minutes = Math.floor(ms / MINUTE_MS);
  if (minutes < 1) return "less than a minute left";
  if (minutes < 120) return `${minutes} minute${minutes === 1 ? "" : "s"} left`;
  return `${Math.floor(minutes / 60)} hours ${minutes % 60} minutes left`;
}

/** A short span for a table cell: "40 s", "14 min", "3 h 5 min". */
export function ago(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / SECOND_MS));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
