/**
 * Unauthenticated noise as an attacker makes it and an admin sees it: requests from a chosen client network, the
 * day's NoiseCounter rows, and the failure limiter's windows (worker/middleware/failure-limit.ts).
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { vi } from "vitest";
import { utcDay } from "../../lib/time.ts";
import { ISSUER } from "./assertions.ts";

/** The counters are written after the response (waitUntil): tests wait for them, bounded, and never sleep. */
const BACKGROUND_WRITE = { timeout: 10_000, interval: 50 } as const;

/** An IPv4 address in a /24 of its own (10.0.0.0/8 holds 65,536 of them), so a test owns its network's counters and limits. */
export function freshNetworkAddress(): string {
  const [a = 0, b = 0] = crypto.getRandomValues(new Uint8Array(2));
  return `10.${a}.${b}.${1 + (a % 200)}`;
}

/** The /24 an IPv4 address belongs to, as the broker names it. */
export function networkOf(ipv4: string): string {
  return `${ipv4.split(".").slice(0, 3).join(".")}.0/24`;
}

/** A request to the whole broker as Cloudflare delivers it from `ip`, with a fresh Ray ID. */
export function fetchFrom(ip: string, path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
  const ray = `${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}-NOI`;
  return exports.default.fetch(`${ISSUER}${path}`, {
    redirect: "manual",
    ...init,
    headers: { "cf-connecting-ip": ip, "cf-ray": ray, ...init.headers },
  });
}

export type NoiseRow = { minute: number; reason: string; network: string; claimed_agent: string; n: number };

/** Every counter of today's NoiseCounter, as stored. */
export function noiseRows(day = utcDay(Date.now())): Promise<NoiseRow[]> {
  return runInDurableObject(env.NOISE_COUNTER.getByName(day), (_counter, state) =>
    state.storage.sql.exec<NoiseRow>("SELECT minute, reason, network, claimed_agent, n FROM counts ORDER BY minute, reason").toArray(),
  );
}

/** Waits until the rows `match` selects add up to at least `count`, then returns them (the caller asserts the exact sum). */
export function waitForNoise(count: number, match: (row: NoiseRow) => boolean): Promise<NoiseRow[]> {
  return vi.waitFor(async () => {
    const rows = (await noiseRows()).filter(match);
    if (total(rows) < count) throw new Error(`${total(rows)} of ${count} failures counted so far`);
    return rows;
  }, BACKGROUND_WRITE);
}

/** How many failures the rows count, in all. */
export function total(rows: readonly NoiseRow[]): number {
  return rows.reduce((sum, row) => sum + row.n, 0);
}

/** How many failures the rows count, per reason (a reason counted over several minutes adds up). */
export function countsByReason(rows: readonly NoiseRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of rows) counts[row.reason] = (counts[row.reason] ?? 0) + row.n;
  return counts;
}

/** Which window of a `[[ratelimits]]` period (seconds) an instant falls in: the local limiter's windows follow the clock. */
function windowOf(ms: number, periodSeconds: number): number {
  return Math.floor(ms / (periodSeconds * 1000));
}

/**
 * Runs a burst of requests against the failure limiter from a fresh network, again (once) from another fresh
 * network if the limiter's clock-aligned window ended during the first: a burst split over two windows is counted
 * twice from zero, and the test would measure the clock rather than the broker.
 */
export async function inOneLimiterWindow<T>(periodSeconds: number, burst: (ip: string) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    const result = await burst(freshNetworkAddress());
    if (windowOf(started, periodSeconds) === windowOf(Date.now(), periodSeconds) || attempt === 2) return result;
  }
}
