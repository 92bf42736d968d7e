import { hourOf } from "../../core/budgets/daily-window.ts";
import type { HourlyUsage } from "../../durable-objects/agent-ledger.ts";
import { HOUR_MS } from "../../lib/time.ts";

/** The chart's hours: the current one and the 23 before it, all within the ledger's one-day retention of tokens. */
export const CHART_HOURS = 24;

/** One series of the chart: tokens, or one unit of cost, with a value for every hour, oldest first. */
export type UsageSeries = { name: string; values: number[]; total: number; max: number };

export type UsageChart = {
  /** The first hour's start, epoch ms; hour i starts at `from + i h`. */
  from: number;
  /** Tokens first, then each unit the agent's tokens counted, by name. */
  series: UsageSeries[];
};

/** Where the chart starts (epoch ms): the ledger is asked for the tokens issued since. */
export function chartStart(now: number): number {
  return (hourOf(now) - (CHART_HOURS - 1)) * HOUR_MS;
}

/**
 * The ledger's hours (only those with a token) as dense series over the chart's 24 hours: tokens, then every unit
 * seen, alphabetically. Hours outside the window are left out. Pure.
 *
 * @example
 * const chart = usageChart(await ledger.usageByHour(chartStart(now)), now);
 */
export function usageChart(hours: readonly HourlyUsage[], now: number): UsageChart {
  const first = hourOf(now) - (CHART_HOURS - 1);
  const units = [...new Set(hours.flatMap((h) => Object.keys(h.units)))].sort();
  const tokens = new Array<number>(CHART_HOURS).fill(0);
  const byUnit = new Map(units.map((u) => [u, new Array<number>(CHART_HOURS).fill(0)]));
  for (const h of hours) {
    const i = h.hour - first;
    if (i < 0 || i >= CHART_HOURS) continue;
    tokens[i] = (tokens[i] ?? 0) + h.tokens;
    for (const [unit, amount] of Object.entries(h.units)) {
      const values = byUnit.get(unit) as number[];
      values[i] = (values[i] ?? 0) + amount;
    }
  }
  return { from: first * HOUR_MS, series: [series("tokens", tokens), ...units.map((u) => series(u, byUnit.get(u) as number[]))] };
}

function series(name: string, values: number[]): UsageSeries {
  return { name, values, total: values.reduce((a, b) => a + b, 0), max: Math.max(0, ...values) };
}
