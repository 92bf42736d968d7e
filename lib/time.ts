/** Units of time in milliseconds, named once: a day is the budgets' rolling window and an audit shard's span. */
export const SECOND_MS = 1_000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/** Whole seconds since the epoch, as JWT `iat`/`exp` count them. */
export function epochSeconds(ms: number): number {
  return Math.floor(ms / SECOND_MS);
}

/** `YYYY-MM-DD HH:MM:SS UTC` of an instant, or to the minute: the times people read on pages and in approval mail. */
export function utcDateTime(ms: number, precision: "second" | "minute" = "second"): string {
  return `${new Date(ms)
    .toISOString()
    .slice(0, precision === "minute" ? 16 : 19)
    .replace("T", " ")} UTC`;
}

/** A wait as a Retry-After value: whole seconds, at least 1 (`Retry-After: 0` invites the refused request straight back). */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / SECOND_MS));
}

/** `YYYY-MM-DD` of a UTC instant: the day of an audit shard and of a signing key's `kid`. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
