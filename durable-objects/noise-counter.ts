import { DurableObject } from "cloudflare:workers";
import { EMPTY_TALLY, type NoiseCount, type NoiseTally, OVERFLOW, type Top } from "../core/audit/noise.ts";
import { DAY_MS } from "../lib/time.ts";
import type { NoBindings } from "./bindings.ts";
import { GroupCommit } from "./group-commit.ts";
import { migrate } from "./migrations.ts";

const MIGRATIONS = [
  `CREATE TABLE counts (minute INTEGER NOT NULL, reason TEXT NOT NULL, network TEXT NOT NULL, claimed_agent TEXT NOT NULL,
     n INTEGER NOT NULL, PRIMARY KEY (minute, reason, network, claimed_agent)) WITHOUT ROWID;`,
];

/**
 * Distinct (reason, network, claimed agent) counters per minute. Beyond this, a minute's new combinations share
 * one overflow counter: an attacker spreading over many networks or made-up agent names fills the cap and no
 * more, so a day holds at most 1,440 × (this + 1) rows however much is thrown at the broker.
 */
export const MAX_COUNTERS_PER_MINUTE = 100;
/** Days a day's counters are kept after the day ends. They are an operational signal; every request's log line stays in Workers Logs. */
export const NOISE_RETENTION_DAYS = 30;

/**
 * Unauthenticated failures of one UTC day (`<YYYY-MM-DD>`), counted rather than recorded one by one
 * (`core/audit/noise.ts`). Not part of the audit trail's hash chains: counters are incremented in place, and the
 * chains keep the decisions about identified agents and admins. One alarm deletes the day once it is past retention.
 */
export class NoiseCounter extends DurableObject<NoBindings> {
  /** A flood sends one call per failure: those arriving together share one transaction and one commit. */
  readonly #commits: GroupCommit;
  #alarmArmed = false;
  /** The retention alarm deleted the storage (schema included) while this instance lived on. */
  #deleted = false;

  constructor(ctx: DurableObjectState, env: NoBindings) {
    super(ctx, env);
    this.#commits = new GroupCommit(ctx.storage);
    ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage.sql, MIGRATIONS);
      this.#alarmArmed = (await ctx.storage.getAlarm()) !== null;
    });
  }

  /** Adds counts of the day `day` (`YYYY-MM-DD`), all in one transaction. */
  async add(day: string, counts: NoiseCount[]): Promise<void> {
    const sql = this.ctx.storage.sql;
    if (this.#deleted) migrate(sql, MIGRATIONS);
    this.#deleted = false;
    await this.#commits.run(() => {
      for (const count of counts) {
        const key = [count.minute, count.reason, count.network, count.claimedAgent] as const;
        const updated = sql
          .exec(
            "UPDATE counts SET n = n + ? WHERE minute = ? AND reason = ? AND network = ? AND claimed_agent = ? RETURNING n",
            count.count,
            ...key,
          )
          .toArray();
        if (updated.length > 0) continue;
        const counters = sql.exec<{ k: number }>("SELECT COUNT(*) AS k FROM counts WHERE minute = ?", count.minute).one().k;
        const row = counters < MAX_COUNTERS_PER_MINUTE ? key : ([count.minute, OVERFLOW, OVERFLOW, OVERFLOW] as const);
        sql.exec(
          `INSERT INTO counts (minute, reason, network, claimed_agent, n) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (minute, reason, network, claimed_agent) DO UPDATE SET n = n + excluded.n`,
          ...row,
          count.count,
        );
      }
    });
    await this.#armRetention(day);
  }

  /**
   * What was counted on `day` in [from, to) (epoch ms, to the minute): the total and the `limit` most frequent of
   * each kind. Reading arms the retention alarm too, so a day only ever read is not kept forever either.
   */
  async tally(day: string, from: number, to: number, limit: number): Promise<NoiseTally> {
    if (this.#deleted) return EMPTY_TALLY;
    await this.#armRetention(day);
    const sql = this.ctx.storage.sql;
    const total = sql.exec<{ n: number }>("SELECT COALESCE(SUM(n), 0) AS n FROM counts WHERE minute >= ? AND minute < ?", from, to).one().n;
    const top = (column: "reason" | "network" | "claimed_agent"): Top =>
      sql
        .exec<{ key: string; count: number }>(
          `SELECT ${column} AS key, SUM(n) AS count FROM counts WHERE minute >= ? AND minute < ? AND ${column} != ''
           GROUP BY ${column} ORDER BY count DESC, key LIMIT ?`,
          from,
          to,
          limit,
        )
        .toArray();
    return { total, reasons: top("reason"), networks: top("network"), claimedAgents: top("claimed_agent") };
  }

  /** The day is past retention: nothing of it is kept (a later call finds an empty day). */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
    this.#alarmArmed = false;
    this.#deleted = true;
  }

  async #armRetention(day: string): Promise<void> {
    if (this.#alarmArmed) return;
    const dayStart = Date.parse(`${day}T00:00:00Z`);
    if (Number.isNaN(dayStart)) throw new TypeError(`NoiseCounter: day must be YYYY-MM-DD, not ${JSON.stringify(day)}`);
    await this.ctx.storage.setAlarm(dayStart + (1 + NOISE_RETENTION_DAYS) * DAY_MS);
    this.#alarmArmed = true;
  }
}
