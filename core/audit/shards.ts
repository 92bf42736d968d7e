import { DAY_MS, utcDay } from "../../lib/time.ts";

/** Events that do not belong to one agent (admin actions, unauthenticated refusals) share this pseudo-agent's shards. */
export const BROKER_SHARD_AGENT = "_broker";

/** `<agent>/<YYYY-MM-DD>`: one agent's events of one UTC day. */
export function shardOf(agent: string | undefined, ts: number): string {
  return `${agent ?? BROKER_SHARD_AGENT}/${utcDay(ts)}`;
}

/** Every shard that may hold events of these agents between `from` and `to` (epoch ms), oldest day first. */
export function shardsBetween(agents: readonly string[], from: number, to: number): string[] {
  return daysBetween(from, to).flatMap((day) => agents.map((agent) => `${agent}/${day}`));
}

/** Every UTC day (`YYYY-MM-DD`) that overlaps [from, to) (epoch ms), oldest first. */
export function daysBetween(from: number, to: number): string[] {
  const days: string[] = [];
  for (let day = Math.floor(from / DAY_MS) * DAY_MS; day < to; day += DAY_MS) days.push(utcDay(day));
  return days;
}
