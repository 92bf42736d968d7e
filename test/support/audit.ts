/** The audit trail as an auditor reads it (GET /admin/audit and friends), and events written the way the broker writes them. */
import { env, exports } from "cloudflare:workers";
import { expect, vi } from "vitest";
import { shardOf } from "../../core/audit/shards.ts";
import type { ChainCheck } from "../../durable-objects/audit-log.ts";
import { DAY_MS } from "../../lib/time.ts";
import { type AuditEvent, type AuditRecord, AuditRecordSchema } from "../../schemas/audit.ts";
import { recordAudit } from "../../worker/audit/audit-trail.ts";
import { ISSUER } from "./assertions.ts";
import { formPost, jsonPost } from "./http.ts";
import { ADMIN_BEARER, brokerGet } from "./requests.ts";

export type AuditPageBody = { records: AuditRecord[]; next_cursor: string | null };
export type VerifyReport = { ok: boolean; day: string; shards: ChainCheck[] };
export type Query = Record<string, string>;

/** The audit write runs after the response (waitUntil): tests wait for it, bounded, and never sleep. */
const BACKGROUND_WRITE = { timeout: 10_000, interval: 50 } as const;

export function adminGet(path: string, query: Query = {}, headers: Record<string, string> = ADMIN_BEARER): Promise<Response> {
  return brokerGet(path, query, headers);
}

export async function auditPage(query: Query): Promise<AuditPageBody> {
  const res = await adminGet("/admin/audit", query);
  if (res.status !== 200) throw new Error(`GET /admin/audit answered ${res.status}: ${await res.text()}`);
  return res.json<AuditPageBody>();
}

/** Every record the query matches, following `next_cursor` to the end. */
export async function auditAll(query: Query = {}): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 200; pages++) {
    const page: AuditPageBody = await auditPage({ limit: "1000", ...query, ...(cursor === null ? {} : { cursor }) });
    records.push(...page.records);
    if (page.next_cursor === null) return records;
    cursor = page.next_cursor;
  }
  throw new Error("GET /admin/audit did not finish within 200 pages");
}

/** Waits until at least `count` records of the query match, then returns every match (the caller asserts the exact count). */
export function waitForRecords(count: number, match: (record: AuditRecord) => boolean, query: Query = {}): Promise<AuditRecord[]> {
  return vi.waitFor(async () => {
    const found = (await auditAll(query)).filter(match);
    expect(found.length, "audit records written so far").toBeGreaterThanOrEqual(count);
    return found;
  }, BACKGROUND_WRITE);
}

export async function verifyDay(day: string, agent?: string): Promise<VerifyReport> {
  const res = await adminGet("/admin/audit/verify", agent === undefined ? { day } : { day, agent });
  expect(res.status).toBe(200);
  return res.json<VerifyReport>();
}

export function dayStart(ts: number): number {
  return Math.floor(ts / DAY_MS) * DAY_MS;
}

/** A throwaway agent name, so a test owns its shards even though Durable Objects persist across a file's tests. */
export function scratchAgent(label: string): string {
  return `audit-${label}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Writes `count` events for `agent` through the production write path (recordAudit), as the request log would,
 * and returns the shard they landed in. Events alternate between issued and denied so filters have something to do;
 * they share one timestamp (within the default query window as soon as they are written), so seq alone orders them.
 */
export async function seedEvents(agent: string, count: number, ts = Date.now()): Promise<{ shard: string; events: AuditEvent[] }> {
  const events: AuditEvent[] = Array.from({ length: count }, (_, i) => ({
    ts,
    request_id: `${agent}-req-${i + 1}`,
    type: "token_request",
    agent,
    use_case: "crm.customers.read",
    audience: "https://crm.example.com",
    decision: i % 2 === 0 ? "issued" : "denied",
    ...(i % 2 === 0 ? { jti: `${agent}-jti-${i + 1}` } : { reason: "use_case_not_allowed" }),
    status: i % 2 === 0 ? 200 : 400,
  }));
  await recordAudit(env, events);
  return { shard: shardOf(agent, ts), events };
}

/** Every record is exactly the documented shape: no stray field could smuggle a secret in. */
export function expectWellFormed(records: AuditRecord[]): void {
  for (const record of records) expect(AuditRecordSchema.strict().safeParse(record).success, JSON.stringify(record)).toBe(true);
}

/** No secret the test handled (tokens, assertions, link tokens, credentials) appears anywhere in the records, whole or as a JWT's signature. */
export function expectNoSecrets(records: AuditRecord[], secrets: Iterable<string>): void {
  const text = JSON.stringify(records);
  for (const secret of secrets) {
    expect(text.includes(secret), `a record contains the secret ${secret.slice(0, 12)}…`).toBe(false);
    const signature = secret.split(".")[2];
    if (signature) expect(text.includes(signature), `a record contains the signature of ${secret.slice(0, 12)}…`).toBe(false);
  }
}

/** Parses an NDJSON body: every line one JSON value, a trailing newline after the last. */
export function parseNdjson(body: string): unknown[] {
  if (body === "") return [];
  expect(body.endsWith("\n")).toBe(true);
  return body
    .slice(0, -1)
    .split("\n")
    .map((line) => JSON.parse(line) as unknown);
}

/**
 * A client whose every request carries its own user agent and client IP and a fresh Ray ID (the request id),
 * so that the records of a test can be counted exactly: every record the broker writes for these requests
 * carries this user agent, and no other record does.
 */
export type Probe = {
  readonly userAgent: string;
  readonly ip: string;
  /** The request id (cf-ray) of each request sent, in order. */
  readonly requestIds: string[];
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  post(path: string, form: Record<string, string> | null, headers?: Record<string, string>): Promise<Response>;
  postJson(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Waits for `count` records of this probe's requests in any shard, and returns all of them. */
  records(count: number): Promise<AuditRecord[]>;
};

let probes = 0;

export function probe(label: string): Probe {
  probes += 1;
  const userAgent = `writ-audit-test/${label} (${crypto.randomUUID()})`;
  const ip = `198.51.100.${probes % 250}`;
  const requestIds: string[] = [];
  const send = (path: string, init: RequestInit & { headers?: Record<string, string> }): Promise<Response> => {
    const requestId = `${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}-AUD`;
    requestIds.push(requestId);
    return exports.default.fetch(`${ISSUER}${path}`, {
      ...init,
      headers: { "user-agent": userAgent, "cf-connecting-ip": ip, "cf-ray": requestId, ...init.headers },
    });
  };
  return {
    userAgent,
    ip,
    requestIds,
    get: (path, headers = {}) => send(path, { headers }),
    post: (path, form, headers = {}) => send(path, formPost(form, headers)),
    postJson: (path, body, headers = {}) => send(path, jsonPost(body, headers)),
    records: (count) => waitForRecords(count, (record) => record.user_agent === userAgent),
  };
}
