import { type Context, Hono } from "hono";
import { BROKER_SHARD_AGENT, shardsBetween } from "../../core/audit/shards.ts";
import type { AuditFilter } from "../../durable-objects/audit-log.ts";
import { NOISE_RETENTION_DAYS } from "../../durable-objects/noise-counter.ts";
import { base64url, fromBase64url } from "../../lib/crypto.ts";
import { DAY_MS, utcDay } from "../../lib/time.ts";
import { type AuditQuery, AuditQuerySchema, type AuditRecord } from "../../schemas/audit.ts";
import type { AppEnv } from "../app-env.ts";
import { noiseBetween } from "../audit/noise-trail.ts";
import { refuse } from "../http/refuse.ts";
import { nowOf } from "../http/request-context.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { activePolicy } from "../policy/active-policy.ts";

const MAX_RANGE_DAYS = 93;
/** The most frequent reasons, networks and claimed agents GET /admin/audit/noise lists. */
const NOISE_TOP_LISTED = 20;
const EXPORT_PAGE = 500;

/**
 * Where a listing stopped: shard index and seq, plus the window's start (and its end, if the caller set one).
 * Shards are listed oldest day first, so with a fixed start an index names the same shard on every page,
 * even when an open-ended listing crosses midnight and gains a day at the end.
 */
type Cursor = { i: number; s: number; from: number; to?: number };
type Plan = { shards: string[]; filter: AuditFilter; cursor: Cursor; limit: number };

/**
 * /admin/audit: the audit trail for auditors and SIEMs.
 * - `GET /admin/audit?agent=&use_case=&decision=&type=&from=&to=&cursor=&limit=`: JSON pages, oldest day first,
 *   each shard in recording order; the cursor stays valid while new events are written.
 * - `GET /admin/audit/export?…`: the same records as NDJSON, one event per line.
 * - `GET /admin/audit/verify?day=YYYY-MM-DD[&agent=]`: recomputes the hash chains of that day's shards.
 * - `GET /admin/audit/noise?from=&to=`: unauthenticated failures, which are counted rather than recorded
 *   (`core/audit/noise.ts`): the total and the most frequent reasons, client networks and claimed agents.
 */
export function adminAuditRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use("/admin/audit", adminAuth());
  routes.use("/admin/audit/*", adminAuth());

  routes.get("/admin/audit", async (c) => {
    const plan = planQuery(c);
    if (!plan.ok) return refuse(c, { code: "invalid_query", detail: plan.problem });
    const { records, next } = await collect(c, plan.value);
    return c.json({ records, next_cursor: next === undefined ? null : encodeCursor(next) }, 200, { "Cache-Control": "no-store" });
  });

  routes.get("/admin/audit/export", (c) => {
    const plan = planQuery(c);
    if (!plan.ok) return refuse(c, { code: "invalid_query", detail: plan.problem });
    const encoder = new TextEncoder();
    let cursor: Cursor | undefined = plan.value.cursor;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (cursor === undefined) return controller.close();
        const page = await collect(c, { ...plan.value, cursor, limit: EXPORT_PAGE });
        if (page.records.length > 0) controller.enqueue(encoder.encode(page.records.map((r) => `${JSON.stringify(r)}\n`).join("")));
        cursor = page.next;
      },
    });
    return c.body(body, 200, { "Content-Type": "application/x-ndjson", "Cache-Control": "no-store" });
  });

  routes.get("/admin/audit/noise", async (c) => {
    const { from: fromText, to: toText } = c.req.query();
    const to = toText === undefined ? nowOf(c).getTime() + 1 : instant(toText);
    const from = fromText === undefined ? to && to - DAY_MS : instant(fromText);
    if (from === undefined || to === undefined || from >= to || to - from > NOISE_RETENTION_DAYS * DAY_MS) {
      const detail = `from and to must be ISO 8601 times or epoch milliseconds, from before to, at most ${NOISE_RETENTION_DAYS} days apart`;
      return refuse(c, { code: "invalid_query", detail });
    }
    const tally = await noiseBetween(c.env, from, to, NOISE_TOP_LISTED);
    return c.json(
      { from, to, total: tally.total, reasons: tally.reasons, networks: tally.networks, claimed_agents: tally.claimedAgents },
      200,
      { "Cache-Control": "no-store" },
    );
  });

  routes.get("/admin/audit/verify", async (c) => {
    const day = c.req.query("day") ?? utcDay(nowOf(c).getTime());
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(day)))
      return refuse(c, { code: "invalid_query", detail: "day must be YYYY-MM-DD" });
    const agent = c.req.query("agent");
    const agents = agent === undefined ? allAgents() : [agent];
    const start = Date.parse(`${day}T00:00:00Z`);
    const checks = await Promise.all(shardsBetween(agents, start, start + 1).map((shard) => c.env.AUDIT_LOG.getByName(shard).verify()));
    // Shards that never received an event are not worth listing.
    const shards = checks.filter((check) => !check.ok || check.count > 0 || check.pruned);
    return c.json({ ok: shards.every((s) => s.ok), day, shards }, 200, { "Cache-Control": "no-store" });
  });
  return routes;
}

async function collect(c: Context<AppEnv>, plan: Plan): Promise<{ records: AuditRecord[]; next: Cursor | undefined }> {
  const records: AuditRecord[] = [];
  let { i, s } = plan.cursor;
  while (i < plan.shards.length && records.length < plan.limit) {
    const page = await c.env.AUDIT_LOG.getByName(plan.shards[i] as string).page(plan.filter, s, plan.limit - records.length);
    records.push(...page.records);
    if (page.nextSeq === null) {
      i += 1;
      s = 0;
    } else {
      s = page.nextSeq;
    }
  }
  return { records, next: i < plan.shards.length ? { ...plan.cursor, i, s } : undefined };
}

function planQuery(c: Context<AppEnv>): { ok: true; value: Plan } | { ok: false; problem: string } {
  const parsed = AuditQuerySchema.safeParse(c.req.query());
  if (!parsed.success)
    return { ok: false, problem: `${parsed.error.issues[0]?.path.join(".") || "query"}: ${parsed.error.issues[0]?.message}` };
  const query: AuditQuery = parsed.data;
  const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  if (query.cursor !== undefined && !cursor) return { ok: false, problem: "cursor is invalid" };
  const fixedTo = cursor ? cursor.to : query.to === undefined ? undefined : instant(query.to);
  if (query.to !== undefined && fixedTo === undefined && !cursor)
    return { ok: false, problem: "to must be an ISO 8601 time or epoch milliseconds" };
  const to = fixedTo ?? Date.now() + 1;
  const from = cursor?.from ?? (query.from === undefined ? to - DAY_MS : instant(query.from));
  if (from === undefined || from >= to)
    return { ok: false, problem: "from and to must be ISO 8601 times or epoch milliseconds, from before to" };
  if (to - from > MAX_RANGE_DAYS * DAY_MS) return { ok: false, problem: `at most ${MAX_RANGE_DAYS} days per query` };
  const agents = query.agent === undefined ? allAgents() : [query.agent];
  return {
    ok: true,
    value: {
      shards: shardsBetween(agents, from, to),
      // The shard already selects the agent (broker-level events have none stored), so no agent filter inside it.
      filter: { type: query.type, useCase: query.use_case, decision: query.decision, from, to },
      cursor: cursor ?? (fixedTo === undefined ? { i: 0, s: 0, from } : { i: 0, s: 0, from, to: fixedTo }),
      limit: query.limit,
    },
  };
}

function allAgents(): string[] {
  return [...activePolicy.agents.keys(), BROKER_SHARD_AGENT];
}

function instant(value: string): number | undefined {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

function encodeCursor(cursor: Cursor): string {
  return base64url(new TextEncoder().encode(JSON.stringify(cursor)));
}

function decodeCursor(text: string): Cursor | undefined {
  try {
    const json = JSON.parse(new TextDecoder().decode(fromBase64url(text))) as unknown;
    const c = json as Partial<Cursor> | null;
    const whole = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
    if (c && whole(c.i) && whole(c.s) && whole(c.from) && (c.to === undefined || (whole(c.to) && (c.from as number) < c.to))) {
      const { i, s, from, to } = c as Cursor;
      return to === undefined ? { i, s, from } : { i, s, from, to };
    }
  } catch {
    // fall through: not a cursor this broker issued
  }
  return undefined;
}
