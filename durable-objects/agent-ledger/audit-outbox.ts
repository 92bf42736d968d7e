import { shardOf } from "../../core/audit/shards.ts";
import { log } from "../../lib/log.ts";
import type { AuditEvent } from "../../schemas/audit.ts";
import type { AuditLog } from "../audit-log.ts";

/** Audit events forwarded per call to an audit shard. */
const FORWARD_BATCH = 256;
/**
 * How long an issued token's audit event waits in the outbox for others to share its forwarding call. Under load
 * that turns one call per token into one per window; the event itself is already durable in the outbox.
 */
const FORWARD_DELAY_MS = 1_000;
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

  /** After the commit: forwards within FORWARD_DELAY_MS, with whatever else is written meanwhile. */
  schedule(): void {
    this.#forwardTimer ??= setTimeout(() => {
      this.#forwardTimer = undefined;
      if (this.#forwarding) this.schedule();
      else void this.#forward();
    }, FORWARD_DELAY_MS);
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
   * time, at most every FORWARD_DELAY_MS, so under load one call carries many events.
   */
  #forward(): Promise<void> {
    this.#forwarding ??= (async () => {
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
