import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { HOUR_MS } from "../../lib/time.ts";
import { CHART_HOURS, chartStart, usageChart } from "../../worker/admin/usage-chart.ts";
import { adminPage } from "../support/admin.ts";
import { ISSUER } from "../support/assertions.ts";
import { attributesOf, textOf } from "../support/html.ts";
import { ADMIN_BEARER, accessTokenFor, brokerFetch } from "../support/requests.ts";

const NOW = Date.UTC(2026, 10, 27, 10, 30);
const HOUR = Math.floor(NOW / HOUR_MS);

describe("usageChart", () => {
  it("spreads the ledger's hours over the last 24, tokens first and then every unit by name", () => {
    const chart = usageChart(
      [
        { hour: HOUR - 30, tokens: 9, units: { max_rows: 900 } },
        { hour: HOUR - 23, tokens: 1, units: { max_rows: 20 } },
        { hour: HOUR - 2, tokens: 2, units: { max_rows: 40, amount_cents: 500 } },
        { hour: HOUR, tokens: 4, units: { max_rows: 10 } },
      ],
      NOW,
    );

    expect(chart.from).toBe((HOUR - 23) * HOUR_MS);
    expect(chart.from).toBe(chartStart(NOW));
    expect(chart.series.map((s) => s.name)).toEqual(["tokens", "amount_cents", "max_rows"]);
    const [tokens, cents, rows] = chart.series;
    expect(tokens?.values).toHaveLength(CHART_HOURS);
    expect(tokens?.values[0]).toBe(1);
    expect(tokens?.values[21]).toBe(2);
    expect(tokens?.values[23]).toBe(4);
    expect(tokens).toMatchObject({ total: 7, max: 4 });
    expect(cents).toMatchObject({ total: 500, max: 500 });
    expect(rows).toMatchObject({ total: 70, max: 40 });
  });

  it("draws nothing but empty hours for an agent without tokens", () => {
    const chart = usageChart([], NOW);
    expect(chart.series).toEqual([{ name: "tokens", values: new Array(CHART_HOURS).fill(0), total: 0, max: 0 }]);
  });
});

describe("AgentLedger.usageByHour", () => {
  it("sums the tokens it issued and their units per clock hour since a time, reported use replacing the limits", async () => {
    const ledger = env.AGENT_LEDGER.getByName(`usage-by-hour-${crypto.randomUUID()}`);
    const issue = async (jti: string, at: number, units: Record<string, number>) =>
      expect(await ledger.issue([], { jti, useCaseId: "uc", units, expiresAt: at + 300_000 }, [], at)).toEqual({ ok: true });
    const at = (hour: number, minute: number) => hour * HOUR_MS + minute * 60_000;
    await issue("old", at(HOUR - 24, 59), { max_rows: 1 });
    await issue("a", at(HOUR - 23, 0), { max_rows: 20 });
    await issue("b", at(HOUR - 2, 5), { max_rows: 20, amount_cents: 300 });
    await issue("c", at(HOUR - 2, 59), { max_rows: 20 });
    await issue("d", at(HOUR, 1), {});
    expect((await ledger.reportUsage("c", { max_rows: 3 }, [], false, at(HOUR, 2))).ok).toBe(true);
    // A report that leaves a unit out leaves that unit at the token's limit, as the budgets count it.
    expect((await ledger.reportUsage("b", { max_rows: 5 }, [], false, at(HOUR, 3))).ok).toBe(true);

    expect(await ledger.usageByHour(chartStart(NOW))).toEqual([
      { hour: HOUR - 23, tokens: 1, units: { max_rows: 20 } },
      { hour: HOUR - 2, tokens: 2, units: { max_rows: 8, amount_cents: 300 } },
      { hour: HOUR, tokens: 1, units: {} },
    ]);
  });
});

describe("the admin page's usage chart", () => {
  type Read = { tokens: number; rows: number };
  const card = 'figure[data-usage-agent="support-bot"]';

  async function readChart(): Promise<Read & { html: string }> {
    const { html } = await adminPage(ADMIN_BEARER);
    const total = async (series: string) => Number((await attributesOf(html, `${card} [data-series="${series}"]`, "data-total"))[0] ?? "0");
    return { html, tokens: await total("tokens"), rows: await total("max_rows") };
  }

  it("counts the tokens issued through the broker and their units, reported use in place of the token's limits", async () => {
    const start = Date.now();
    const before = await readChart();
    const fromLedgerBefore = await env.AGENT_LEDGER.getByName("support-bot").usageByHour(chartStart(Date.now()));

    const tokens = [await accessTokenFor("support-bot"), await accessTokenFor("support-bot"), await accessTokenFor("support-bot")];
    // The CRM reports what the first token really read: 37 rows instead of its limit of 100.
    const reported = await brokerFetch(`${ISSUER}/usage`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer dev-crm-service-secret" },
      body: JSON.stringify({ token: tokens[0], units: { max_rows: 37 } }),
    });
    expect(reported.status).toBe(200);

    const after = await readChart();
    // An hour may turn during the test: what is drawn as "now" lies between these two.
    const hourRange = [Math.floor(start / HOUR_MS), Math.floor(Date.now() / HOUR_MS)] as const;
    const inRange = (hour: number) => hour >= hourRange[0] && hour <= hourRange[1];
    expect(after.tokens - before.tokens).toBe(3);
    expect(after.rows - before.rows).toBe(100 + 100 + 37);

    // The ledger's own answer, hour by hour, is what the page drew.
    const fromLedger = await env.AGENT_LEDGER.getByName("support-bot").usageByHour(chartStart(Date.now()));
    const sum = (rows: typeof fromLedger, pick: (r: (typeof fromLedger)[number]) => number) => rows.reduce((a, r) => a + pick(r), 0);
    expect(sum(fromLedger, (r) => r.tokens) - sum(fromLedgerBefore, (r) => r.tokens)).toBe(3);
    expect(sum(fromLedger, (r) => r.units.max_rows ?? 0)).toBe(after.rows);
    expect(inRange(fromLedger.at(-1)?.hour ?? 0)).toBe(true);

    // One bar per hour, each carrying its value; together they make the total.
    const values = (await attributesOf(after.html, `${card} [data-series="tokens"] rect.bar`, "data-value")).map(Number);
    expect(values).toHaveLength(CHART_HOURS);
    expect(values.reduce((a, b) => a + b, 0)).toBe(after.tokens);
    const hours = await attributesOf(after.html, `${card} [data-series="tokens"] rect.bar`, "data-hour");
    expect(inRange(Date.parse(hours.at(-1) ?? "") / HOUR_MS)).toBe(true);
    expect(Date.parse(hours.at(-1) ?? "") - Date.parse(hours[0] ?? "")).toBe((CHART_HOURS - 1) * HOUR_MS);
  });

  it("is an image with a title and a description, and the numbers as a table one click away", async () => {
    const { html, tokens } = await readChart();
    const svg = `${card} [data-series="tokens"] svg`;

    expect(await attributesOf(html, svg, "role")).toEqual(["img"]);
    const [labelledBy] = await attributesOf(html, svg, "aria-labelledby");
    const [titleId, descId] = (labelledBy ?? "").split(" ");
    expect(await textOf(html, `title#${titleId}`)).toBe("Tokens per hour over the last 24 hours, Customer support assistant");
    expect(await textOf(html, `desc#${descId}`)).toMatch(
      new RegExp(`^${tokens} in the last 24 hours; the busiest hour, \\d\\d:00–\\d\\d:00 UTC, had \\d+\\.$`),
    );
    expect(await textOf(html, `${card} details summary`)).toBe("Hour by hour");
    const cells = (await attributesOf(html, `${card} details td[data-series="tokens"]`, "data-series")).length;
    expect(cells).toBeGreaterThanOrEqual(1);
    // A quiet agent says so instead of drawing bars of nothing.
    expect(await textOf(html, 'figure[data-usage-agent="retired-bot"] desc')).toBe("None in the last 24 hours.");
    expect(await textOf(html, 'figure[data-usage-agent="retired-bot"] details')).toBeUndefined();
  });
});
