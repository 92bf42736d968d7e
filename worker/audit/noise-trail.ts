import { mergeTallies, type NoiseCount, type NoiseTally } from "../../core/audit/noise.ts";
import { daysBetween } from "../../core/audit/shards.ts";
import { utcDay } from "../../lib/time.ts";
import type { WritEnv } from "../env.ts";
import { tryTwice } from "./audit-trail.ts";

/** How many of the most frequent reasons, networks and claimed agents each day's counter lists. */
const TOP_PER_DAY = 50;

/**
 * Adds an unauthenticated failure to its day's counter (`durable-objects/noise-counter.ts`). Retried once; if it
 * still fails, the count is lost but not the request: its log line was already written.
 */
export function recordNoise(env: WritEnv, count: NoiseCount): Promise<void> {
  const day = utcDay(count.minute);
  return tryTwice(() => env.NOISE_COUNTER.getByName(day).add(day, [count]), "noise_count_failed", {
    day,
    reason: count.reason,
    network: count.network,
  });
}

/** Unauthenticated failures counted in [from, to) (epoch ms), over every day's counter that span touches. */
export async function noiseBetween(env: WritEnv, from: number, to: number, limit: number): Promise<NoiseTally> {
  const days = daysBetween(from, to);
  const tallies = await Promise.all(days.map((day) => env.NOISE_COUNTER.getByName(day).tally(day, from, to, TOP_PER_DAY)));
  return mergeTallies(tallies, limit);
}
