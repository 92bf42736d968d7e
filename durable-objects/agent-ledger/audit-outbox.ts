import { shardOf } from "../../core/audit/shards.ts";
import { log } from "../../lib/log.ts";
import type { AuditEvent } from "../../schemas/audit.ts";
import type { AuditLog } from "../audit-log.ts";

/** Audit events forwarded per call to an audit shard. */
const FORWARD_BATCH = 256;
/**
 * How long an issued token's audit event waits in the outbox for others to share its forwarding call, after a quiet
 * spell. Under load that turns one call per token into one per window; the event itself is already durable in the
 * outbox.
 */
const FORWARD_DELAY_MS = 1_000;
/**
 * While an agent keeps issuing, forwarding runs at most this often unless a full batch waits (issue #15). Spread over
 * many agents each ledger has only a few events a second, and every forwarding call costs its shard a serialised
 * append with a transaction of its own: paced, they share those costs five times better. The cost is freshness only:
 * `/admin/audit` shows a token up to this much later; its event is durable in the outbox from the token's commit on.
 */
const FORWARD_INTERVAL_MS = 5_000;
/** When forwarding fails, the alarm tries again this much later; the events wait, durable, in the outbox. */
const FORWARD_RETRY_MS = 30_000;

/**
 * `audit_outbox`: each issued token's audit event, written in the token's transaction, then forwarded to its
 * `AuditLog` shard. A seq is never reused and a shard skips the seqs it already has, so an event sent twice is
 * recorded once; what could not be sent waits, durable, for the ledger's alarm.
 */
export class AuditOutbox {
  readonly #sql: SqlStorage;
  readonly #shards: DurableObjectNamespace<AuditLog>;
  readonly #wakeAt: (at: number) => void;
  #forwarding: Promise<void> | undefined;
  #forwardTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the last forwarding run started (epoch ms), for FORWARD_INTERVAL_MS. */
  #forwardedAt = 0;
  /** Events committed since the last forwarding run started (may overcount after a rollback: it only paces). */
  #waiting = 0;
  /**
   * Outbox events up to this seq are in their shards. Their rows are deleted by the next write transaction
   * (no commit of their own); forgotten on eviction, in which case the shard skips the re-sent events.
   */
  #forwardedSeq = 0;
  /** Outbox rows up to this seq are deleted already. */
  #clearedSeq = 0;

  /** `wakeAt` asks the ledger's one alarm for a deadline (epoch ms): a retry of a failed forwarding. */
  constructor(sql: SqlStorage, shards: DurableObjectNamespace<AuditLog>, wakeAt: (at: number) => void) {
    this.#sql = sql;
    this.#shards = shards;
    this.#wakeAt = wakeAt;
  }

  /** After a rollback: the deletion of forwarded rows may be undone, so it must be done again. */
  reset(): void {
    this.#clearedSeq = 0;
  }

  /** Inside the token's transaction: stores its event, and deletes the rows forwarded since the last write. */
  add(event: AuditEvent): void {
    this.#clearForwarded();
    this.#sql.exec("INSERT INTO audit_outbox (shard, body) VALUES (?, ?)", shardOf(event.agent, event.ts), JSON.stringify(event));
  }

  /**
   * After the commit of one event: forwards it with whatever else is written meanwhile, within FORWARD_DELAY_MS after
   * a quiet spell, otherwise FORWARD_INTERVAL_MS after the last run, and at once when a full batch waits.
   */
  schedule(): void {
    this.#waiting += 1;
    if (this.#waiting >= FORWARD_BATCH && !this.#forwarding) {
      clearTimeout(this.#forwardTimer);
      this.#forwardTimer = undefined;
      void this.#forward();
      return;
    }
    this.#arm();
  }

  #arm(): void {
    if (this.#forwardTimer) return;
    const now = Date.now();
    const delay = Math.max(FORWARD_DELAY_MS, this.#forwardedAt + FORWARD_INTERVAL_MS - now);
    this.#forwardTimer = setTimeout(() => {
      this.#forwardTimer = undefined;
      if (this.#forwarding) this.#arm();
      else void this.#forward();
    }, delay);
  }

  /** For the alarm: forwards what is left, then deletes every forwarded row. */
  async drain(): Promise<void> {
    await this.#forward();
    this.#clearForwarded();
  }

  #clearForwarded(): void {
    if (this.#forwardedSeq <= this.#clearedSeq) return;
    this.#sql.exec("DELETE FROM audit_outbox WHERE seq <= ?", this.#forwardedSeq);
    this.#clearedSeq = this.#forwardedSeq;
  }

  /**
   * Sends the outbox's audit events to their shards, oldest first; their rows go with the next write. One run at a
   * time, paced by `schedule`, so under load one call carries many events.
   */
  #forward(): Promise<void> {
    if (this.#forwarding) return this.#forwarding;
    this.#forwardedAt = Date.now();
    this.#waiting = 0;
    this.#forwarding = (async () => {
      try {
        while ((await this.#forwardBatch()) === FORWARD_BATCH);
      } catch (error) {
        const pending = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM audit_outbox WHERE seq > ?", this.#forwardedSeq).one().n;
        log("error", "audit_forward_failed", { pending, message: error instanceof Error ? error.message : String(error) });
        this.#wakeAt(Date.now() + FORWARD_RETRY_MS);
      } finally {
        this.#forwarding = undefined;
      }
    })();
    return this.#forwarding;
  }

  /** Forwards the oldest events not yet forwarded; how many. */
  async #forwardBatch(): Promise<number> {
    const rows = this.#sql
      .exec<{ seq: number; shard: string; body: string }>(
        "SELECT seq, shard, body FROM audit_outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        this.#forwardedSeq,
        FORWARD_BATCH,
      )
      .toArray();
    const last = rows.at(-1);
    if (!last) return 0;
    await Promise.all(
      [...Map.groupBy(rows, (row) => row.shard)].map(([shard, shardRows]) =>
        this.#shards.getByName(shard).appendForwarded(
          shard,
          shardRows.map((row) => ({ seq: row.seq, event: JSON.parse(row.body) as AuditEvent })),
        ),
      ),
    );
    this.#forwardedSeq = last.seq;
    return rows.length;
  }
}
