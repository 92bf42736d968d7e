import type { FC } from "hono/jsx";
import { HOUR_MS } from "../../lib/time.ts";
import type { UsageChart, UsageSeries } from "../admin/usage-chart.ts";
import { utc } from "./format.ts";

/**
 * An agent's tokens and units per hour over the last day, drawn on the server as inline SVG (the CSP allows no
 * script, and a chart library would be one): one small bar chart per series, each with a title and a description
 * for screen readers, a tooltip per bar, and the numbers themselves in a table one click away.
 */

const BAR_PITCH = 10;
const BAR_WIDTH = 8;
const CHART_HEIGHT = 40;

export const UsageCard: FC<{ agentId: string; name: string; chart: UsageChart }> = ({ agentId, name, chart }) => {
  const busy = chart.series[0]?.total !== 0;
  return (
    <figure class="usage-card" id={`usage-${agentId}`} data-usage-agent={agentId}>
      <figcaption>
        <strong>{name}</strong> <code class="id">{agentId}</code>
      </figcaption>
      {chart.series.map((s) => (
        <SeriesBars agentId={agentId} name={name} from={chart.from} series={s} />
      ))}
      <p class="chart-axis muted" aria-hidden="true">
        <span>{utc(chart.from, "minute").replace(" UTC", "")}</span>
        <span>now</span>
      </p>
      {busy && <HourTable chart={chart} />}
    </figure>
  );
};

function label(series: UsageSeries): string {
  return series.name === "tokens" ? "Tokens" : series.name;
}

const SeriesBars: FC<{ agentId: string; name: string; from: number; series: UsageSeries }> = ({ agentId, name, from, series }) => {
  const key = `usage-${agentId}-${series.name}`.replace(/[^A-Za-z0-9_-]/g, "_");
  const busiest = series.values.indexOf(series.max);
  const description =
    series.total === 0
      ? `None in the last 24 hours.`
      : `${series.total} in the last 24 hours; the busiest hour, ${hourSpan(from, busiest)}, had ${series.max}.`;
  return (
    <div class="series" data-series={series.name} data-total={String(series.total)}>
      <p class="series-head">
        <span class="series-name">{label(series)}</span>{" "}
        <span class="muted">
          {series.total} in 24 h{series.total > 0 && ` · peak ${series.max}/h`}
        </span>
      </p>
      <svg
        class="bars"
        viewBox={`0 0 ${series.values.length * BAR_PITCH} ${CHART_HEIGHT}`}
        preserveAspectRatio="none"
        role="img"
        aria-labelledby={`${key}-title ${key}-desc`}
      >
        <title id={`${key}-title`}>{`${label(series)} per hour over the last 24 hours, ${name}`}</title>
        <desc id={`${key}-desc`}>{description}</desc>
        <line class="baseline" x1="0" y1={CHART_HEIGHT - 0.5} x2={series.values.length * BAR_PITCH} y2={CHART_HEIGHT - 0.5} />
        {series.values.map((value, i) => {
          // A bar for every hour, the busiest full height; any use at all shows at least a sliver.
          const height = series.max === 0 ? 0 : Math.max(value > 0 ? 1.5 : 0, (value / series.max) * CHART_HEIGHT);
          return (
            <rect
              class="bar"
              x={i * BAR_PITCH + (BAR_PITCH - BAR_WIDTH) / 2}
              y={CHART_HEIGHT - height}
              width={BAR_WIDTH}
              height={height}
              data-hour={new Date(from + i * HOUR_MS).toISOString()}
              data-value={String(value)}
            >
              <title>{`${hourSpan(from, i)}: ${value}`}</title>
            </rect>
          );
        })}
      </svg>
    </div>
  );
};

/** The numbers behind the bars, hours with use only, newest first. */
const HourTable: FC<{ chart: UsageChart }> = ({ chart }) => {
  const hours = chart.series[0]?.values.map((_, i) => i).filter((i) => chart.series.some((s) => (s.values[i] ?? 0) > 0)) ?? [];
  return (
    <details class="usage-numbers">
      <summary>Hour by hour</summary>
      <div class="table-wrap">
        <table class="compact">
          <thead>
            <tr>
              <th scope="col">Hour (UTC)</th>
              {chart.series.map((s) => (
                <th scope="col">{label(s)}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {hours.reverse().map((i) => (
              <tr data-hour={new Date(chart.from + i * HOUR_MS).toISOString()}>
                <td data-label="Hour (UTC)">{hourSpan(chart.from, i)}</td>
                {chart.series.map((s) => (
                  <td class="number" data-label={label(s)} data-series={s.name}>
                    {s.values[i] ?? 0}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
};

/** "09:00–10:00 UTC" for the chart's i-th hour. */
function hourSpan(from: number, i: number): string {
  const start = new Date(from + i * HOUR_MS).toISOString().slice(11, 16);
  const end = new Date(from + (i + 1) * HOUR_MS).toISOString().slice(11, 16);
  return `${start}–${end} UTC`;
}
