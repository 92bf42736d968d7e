import { DurableObject } from "cloudflare:workers";
import { chainHash, genesis } from "../core/audit/hash-chain.ts";
import { canonicalJson } from "../lib/canonical-json.ts";
import { log } from "../lib/log.ts";
import { DAY_MS } from "../lib/time.ts";
import type { AuditEvent, AuditRecord } from "../schemas/audit.ts";
import { migrate } from "./migrations.ts";

const MIGRATIONS = [
  `CREATE TABLE events (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, type TEXT NOT NULL, agent TEXT, use_case TEXT, decision TEXT,
     body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
   CREATE TABLE shard (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL, pruned_at INTEGER, pruned_count INTEGER, pruned_head TEXT);`,
  // The chain's length and head, kept beside it (and logged on every append), so cutting off the newest records shows.
  `ALTER TABLE shard ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE shard ADD COLUMN head TEXT;`,
  // The last agent-ledger outbox seq appended (AgentLedger forwards the events it writes with tokens).
  `ALTER TABLE shard ADD COLUMN forwarded_seq INTEGER NOT NULL DEFAULT 0;`,
];

const DEFAULT_RETENTION_DAYS = 400;

/** The bindings an audit shard reads. */
export type AuditLogBindings = { AUDIT_RETENTION_DAYS?: string };

/**
 * Days a shard is kept before it is pruned to its head hash: a positive whole number in decimal digits, 400 when
 * unset. Anything else is a deployment mistake and throws, rather than keep evidence for a period nobody chose.
 */
export function auditRetentionDays(value: string | undefined): number {
  if (value === undefined) return DEFAULT_RETENTION_DAYS;
  const days = Number(value);
  if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(days))
    throw new Error(`Writ misconfigured: AUDIT_RETENTION_DAYS must be a positive whole number of days, not ${JSON.stringify(value)}`);
  return days;
}

export type AuditFilter = {
  type?: string | undefined;
  agent?: string | undefined;
  useCase?: string | undefined;
  decision?: string | undefined;
  from?: number;
  to?: number;
};
export type AuditPage = { records: AuditRecord[]; nextSeq: number | null };
export type ChainCheck =
  | { ok: true; shard: string | null; count: number; head: string; pruned: boolean }
  | { ok: false; shard: string | null; brokenAt: number; problem: "missing" | "reordered" | "edited" | "truncated" };

/** A stored event as its SQL row: the hashed body, its chain links and the indexed copies of its fields. */
export type EventRow = {
  seq: number;
  ts: number;
  type: string;
  agent: string | null;
  use_case: string | null;
  decision: string | null;
  body: string;
  prev_hash: string;
  hash: string;
};

/**
 * One shard of the audit trail: one agent's events of one UTC day (`<agent>/<YYYY-MM-DD>`), so a hot agent or
 * a busy day never queues everyone else. Each record carries the hash of the previous one, so editing,
 * deleting or reordering any record breaks the chain, and `verify` says where.
 */
export class AuditLog extends DurableObject<AuditLogBindings> {
  /** Whether the retention alarm is set, kept in memory so an append does not read it back from storage each time. */
  #alarmArmed = false;
  readonly #retentionDays: number;

  constructor(ctx: DurableObjectState, env: AuditLogBindings) {
    super(ctx, env);
    // Read before anything is stored: a bad value fails the first call, not an append whose events are already written.
    this.#retentionDays = auditRetentionDays(env.AUDIT_RETENTION_DAYS);
    ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage.sql, MIGRATIONS);
      this.#alarmArmed = (await ctx.storage.getAlarm()) !== null;
    });
  }

  /** Appends events in order. Serialised, so the chain never forks; all of a batch or none of it is written. */
  append(shard: string, events: AuditEvent[]): Promise<number> {
    return this.#append(shard, () => ({ events }));
  }

  /**
   * Appends events forwarded from the agent's ledger outbox, skipping those (by outbox seq) this shard already
   * has: the ledger may send a batch again when it could not learn that the first send succeeded.
   */
  appendForwarded(shard: string, items: { seq: number; event: AuditEvent }[]): Promise<number> {
    return this.#append(shard, () => {
      const done = this.ctx.storage.sql.exec<{ seq: number }>("SELECT forwarded_seq AS seq FROM shard").toArray()[0]?.seq ?? 0;
      const fresh = items.filter((item) => item.seq > done);
      return { events: fresh.map((item) => item.event), forwardedSeq: Math.max(done, ...items.map((item) => item.seq)) };
    });
  }

  /** `select` runs inside the serialised section, so what it reads cannot change before the batch is written. */
  #append(shard: string, select: () => { events: AuditEvent[]; forwardedSeq?: number }): Promise<number> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const { events, forwardedSeq } = select();
      const sql = this.ctx.storage.sql;
      const last = sql.exec<{ seq: number; hash: string }>("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").toArray()[0];
      if (events.length === 0) return last?.seq ?? 0;
      let seq = last?.seq ?? 0;
      let prev = last?.hash ?? (await genesis(shard));
      const rows: { seq: number; event: AuditEvent; body: string; prev: string; hash: string }[] = [];
      for (const event of events) {
        seq += 1;
        const body = canonicalJson(event);
        const hash = await chainHash(prev, seq, body);
        rows.push({ seq, event, body, prev, hash });
        prev = hash;
      }
      this.ctx.storage.transactionSync(() => {
        if (sql.exec("SELECT 1 FROM shard").toArray().length === 0) sql.exec("INSERT INTO shard (id, name) VALUES (1, ?)", shard);
        sql.exec("UPDATE shard SET last_seq = ?, head = ?", seq, prev);
        if (forwardedSeq !== undefined) sql.exec("UPDATE shard SET forwarded_seq = ?", forwardedSeq);
        for (const r of rows)
          sql.exec(
            "INSERT INTO events (seq, ts, type, agent, use_case, decision, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            r.seq,
            r.event.ts,
            r.event.type,
            r.event.agent ?? null,
            r.event.use_case ?? null,
            r.event.decision ?? null,
            r.body,
            r.prev,
            r.hash,
          );
      });
      if (!this.#alarmArmed) {
        await this.ctx.storage.setAlarm(this.#pruneAt(events[0]?.ts ?? Date.now()));
        this.#alarmArmed = true;
      }
      // An anchor outside this object's storage: Workers Logs keeps every shard's head as it grows.
      log("info", "audit_appended", { shard, seq, head: prev });
      return seq;
    });
  }

  /** One page in sequence order, after `afterSeq`: stable while new events are appended behind it. */
  page(filter: AuditFilter, afterSeq: number, limit: number): AuditPage {
    const where = ["seq > ?"];
    const args: (string | number)[] = [afterSeq];
    const add = (clause: string, value: string | number | undefined) => {
      if (value === undefined) return;
      where.push(clause);
      args.push(value);
    };
    add("type = ?", filter.type);
    add("agent = ?", filter.agent);
    add("use_case = ?", filter.useCase);
    add("decision = ?", filter.decision);
    add("ts >= ?", filter.from);
    add("ts < ?", filter.to);
    const shard = this.#shardName() ?? "";
    const rows = this.ctx.storage.sql
      .exec<{ seq: number; body: string; prev_hash: string; hash: string }>(
        `SELECT seq, body, prev_hash, hash FROM events WHERE ${where.join(" AND ")} ORDER BY seq LIMIT ?`,
        ...args,
        limit + 1,
      )
      .toArray();
    const records = rows
      .slice(0, limit)
      .map((r) => ({ ...(JSON.parse(r.body) as AuditEvent), shard, seq: r.seq, prev_hash: r.prev_hash, hash: r.hash }));
    return { records, nextSeq: rows.length > limit ? (records.at(-1)?.seq ?? null) : null };
  }

  /** Recomputes the whole chain: a gap is a deletion, a wrong link a reordering, a wrong hash an edit. */
  async verify(): Promise<ChainCheck> {
    const sql = this.ctx.storage.sql;
    const meta = sql
      .exec<{
        name: string;
        pruned_at: number | null;
        pruned_count: number | null;
        pruned_head: string | null;
        last_seq: number;
        head: string | null;
      }>("SELECT name, pruned_at, pruned_count, pruned_head, last_seq, head FROM shard")
      .toArray()[0];
    const shard = meta?.name ?? null;
    if (meta?.pruned_at != null) return { ok: true, shard, count: meta.pruned_count ?? 0, head: meta.pruned_head ?? "", pruned: true };
    const rows = sql
      .exec<EventRow>("SELECT seq, ts, type, agent, use_case, decision, body, prev_hash, hash FROM events ORDER BY seq")
      .toArray();
    let prev = await genesis(shard ?? "");
    let expectedSeq = 1;
    for (const row of rows) {
      if (row.seq !== expectedSeq) return { ok: false, shard, brokenAt: expectedSeq, problem: "missing" };
      if (row.prev_hash !== prev) return { ok: false, shard, brokenAt: row.seq, problem: "reordered" };
      if ((await chainHash(prev, row.seq, row.body)) !== row.hash || !columnsMatch(row))
        return { ok: false, shard, brokenAt: row.seq, problem: "edited" };
      prev = row.hash;
      expectedSeq += 1;
    }
    if (meta && (rows.length !== meta.last_seq || (meta.head ?? prev) !== prev))
      return { ok: false, shard, brokenAt: rows.length + 1, problem: "truncated" };
    return { ok: true, shard, count: rows.length, head: prev, pruned: false };
  }

  /**
   * Retention: the day's events go, but the shard keeps how many there were and the head hash, so an
   * auditor holding an earlier export can still prove it matches what was recorded.
   */
  override async alarm(): Promise<void> {
    const check = await this.verify();
    if (!check.ok) {
      // Never prune evidence of tampering: keep the shard, say so, and look again tomorrow.
      log("error", "audit_chain_broken", { shard: check.shard, broken_at: check.brokenAt, problem: check.problem });
      await this.ctx.storage.setAlarm(Date.now() + DAY_MS);
      return;
    }
    const sql = this.ctx.storage.sql;
    const count = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events").one().n;
    this.ctx.storage.transactionSync(() => {
      sql.exec("UPDATE shard SET pruned_at = ?, pruned_count = ?, pruned_head = ?", Date.now(), count, check.head);
      sql.exec("DELETE FROM events");
    });
    this.#alarmArmed = false;
  }

  #shardName(): string | null {
    return this.ctx.storage.sql.exec<{ name: string }>("SELECT name FROM shard").toArray()[0]?.name ?? null;
  }

  #pruneAt(ts: number): number {
    const dayEnd = Math.ceil((ts + 1) / DAY_MS) * DAY_MS;
    return dayEnd + this.#retentionDays * DAY_MS;
  }
}

/** The indexed columns must say what the hashed body says, or a filtered query could be made to miss a record. */
function columnsMatch(row: EventRow): boolean {
  const body = JSON.parse(row.body) as AuditEvent;
  return (
    body.ts === row.ts &&
    body.type === row.type &&
    (body.agent ?? null) === row.agent &&
    (body.use_case ?? null) === row.use_case &&
    (body.decision ?? null) === row.decision
  );
}
