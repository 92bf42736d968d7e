import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { EMPTY_TALLY, type NoiseCount } from "../../core/audit/noise.ts";
import { MAX_COUNTERS_PER_MINUTE, NOISE_RETENTION_DAYS } from "../../durable-objects/noise-counter.ts";
import { DAY_MS, MINUTE_MS } from "../../lib/time.ts";
import { adminGet } from "../support/audit.ts";
import { fetchFrom, freshNetworkAddress, networkOf, waitForNoise } from "../support/noise.ts";

/**
 * Unauthenticated failures are counted, not recorded (core/audit/noise.ts): the counters of one UTC day live in one
 * NoiseCounter, bounded per minute, deleted after retention, and read by the admin page and GET /admin/audit/noise.
 */

/** A day no other test writes to, so its counter object is this file's own. */
const DAY = "2031-03-04";
const DAY_START = Date.parse(`${DAY}T00:00:00Z`);

function count(minute: number, overrides: Partial<NoiseCount> = {}): NoiseCount {
  return { minute, reason: "admin_auth:bad_token", network: "203.0.113.0/24", claimedAgent: "", count: 1, ...overrides };
}

describe("NoiseCounter", () => {
  it("adds to one counter per minute, reason, network and claimed agent", async () => {
    const counter = env.NOISE_COUNTER.getByName(DAY);
    await counter.add(DAY, [count(DAY_START), count(DAY_START, { count: 2 }), count(DAY_START + MINUTE_MS)]);
    await counter.add(DAY, [count(DAY_START, { claimedAgent: "support-bot" })]);

    const tally = await counter.tally(DAY, DAY_START, DAY_START + DAY_MS, 10);
    expect(tally).toEqual({
      total: 5,
      reasons: [{ key: "admin_auth:bad_token", count: 5 }],
      networks: [{ key: "203.0.113.0/24", count: 5 }],
      claimedAgents: [{ key: "support-bot", count: 1 }],
    });
    // Minutes outside the span are left out.
    expect((await counter.tally(DAY, DAY_START + MINUTE_MS, DAY_START + 2 * MINUTE_MS, 10)).total).toBe(1);
  });

  it(`keeps at most ${MAX_COUNTERS_PER_MINUTE} counters a minute, and counts the rest in one overflow counter`, async () => {
    const minute = DAY_START + 10 * MINUTE_MS;
    const counter = env.NOISE_COUNTER.getByName(DAY);
    const flood = Array.from({ length: 3 * MAX_COUNTERS_PER_MINUTE }, (_, i) => count(minute, { network: `10.${i >> 8}.${i & 255}.0/24` }));
    await counter.add(DAY, flood);

    const rows = await runInDurableObject(counter, (_instance, state) =>
      state.storage.sql.exec<{ network: string; n: number }>("SELECT network, n FROM counts WHERE minute = ?", minute).toArray(),
    );
    expect(rows).toHaveLength(MAX_COUNTERS_PER_MINUTE + 1);
    expect(rows.find((row) => row.network === "*")?.n).toBe(2 * MAX_COUNTERS_PER_MINUTE);
    expect((await counter.tally(DAY, minute, minute + MINUTE_MS, 1)).total).toBe(3 * MAX_COUNTERS_PER_MINUTE);
  });

  it("deletes the day once it is past retention, and reads an empty day afterwards", async () => {
    const day = "2031-03-05";
    const counter = env.NOISE_COUNTER.getByName(day);
    await counter.add(day, [count(Date.parse(`${day}T12:00:00Z`))]);
    const alarm = await runInDurableObject(counter, (_instance, state) => state.storage.getAlarm());
    expect(alarm).toBe(Date.parse(`${day}T00:00:00Z`) + (1 + NOISE_RETENTION_DAYS) * DAY_MS);

    expect(await runDurableObjectAlarm(counter)).toBe(true);
    expect(await counter.tally(day, 0, Date.parse("2032-01-01"), 10)).toEqual(EMPTY_TALLY);
    expect(await runInDurableObject(counter, (_instance, state) => state.storage.sql.databaseSize)).toBeLessThan(16_384);
  });
});

describe("GET /admin/audit/noise", () => {
  it("lists the last 24 hours' unauthenticated failures: the total, and the most frequent reasons, networks and claimed agents", async () => {
    const ip = freshNetworkAddress();
    for (let i = 0; i < 3; i++)
      expect((await fetchFrom(ip, "/admin/audit", { headers: { authorization: `Bearer guess-${i}` } })).status).toBe(401);
    await waitForNoise(3, (row) => row.network === networkOf(ip));

    const response = await adminGet("/admin/audit/noise");
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = await response.json<{ total: number; reasons: unknown[]; networks: unknown[]; claimed_agents: unknown[] }>();
    expect(Object.keys(body).sort()).toEqual(["claimed_agents", "from", "networks", "reasons", "to", "total"]);
    expect(body.total).toBeGreaterThanOrEqual(3);
    expect(body.networks).toContainEqual({ key: networkOf(ip), count: 3 });
    expect(body.reasons).toContainEqual({ key: "admin_auth:bad_token", count: expect.any(Number) });
  });

  it("refuses a span longer than the counters are kept, or backwards, with invalid_request", async () => {
    const now = Date.now();
    const queries: Record<string, string>[] = [
      { from: String(now - (NOISE_RETENTION_DAYS + 1) * DAY_MS) },
      { from: String(now), to: String(now - 1) },
      { to: "soon" },
    ];
    for (const query of queries) {
      const response = await adminGet("/admin/audit/noise", query);
      expect(response.status, JSON.stringify(query)).toBe(400);
      expect((await response.json<{ error: string }>()).error).toBe("invalid_request");
    }
  });

  it("is for admins only", async () => {
    expect((await adminGet("/admin/audit/noise", {}, {})).status).toBe(401);
  });
});
