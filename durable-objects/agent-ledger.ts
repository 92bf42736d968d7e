import { DurableObject } from "cloudflare:workers";
import { migrate } from "./migrations.ts";

const MIGRATIONS = [
  `CREATE TABLE used_assertions (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX used_assertions_by_expiry ON used_assertions (expires_at);`,
];

/** One identity proof to burn: its `jti` and when it stops being acceptable anyway (epoch seconds). */
export type ProofUse = { jti: string; expiresAt: number };
export type AdmitResult = { ok: true } | { ok: false; replayedJti: string };

/**
 * One object per agent, so load spreads across agents. It remembers every assertion `jti` the agent has
 * used until that assertion would have expired anyway (RFC 7523 §3 item 7), which is what makes replay
 * detection exact. Budgets (issue #4) join this object so that a token costs one round trip.
 */
export class AgentLedger extends DurableObject {
  #alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage.sql, MIGRATIONS);
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  /** Atomically: refuse if any proof was seen before, otherwise record them all. Nothing is written on refusal. */
  admit(proofs: ProofUse[], nowSeconds: number): AdmitResult {
    const sql = this.ctx.storage.sql;
    const result = this.ctx.storage.transactionSync((): AdmitResult => {
      for (const proof of proofs) {
        const seen = sql.exec("SELECT 1 FROM used_assertions WHERE jti = ? AND expires_at >= ?", proof.jti, nowSeconds).toArray();
        if (seen.length > 0) return { ok: false, replayedJti: proof.jti };
      }
      for (const proof of proofs) {
        sql.exec("INSERT OR REPLACE INTO used_assertions (jti, expires_at) VALUES (?, ?)", proof.jti, proof.expiresAt);
      }
      return { ok: true };
    });
    if (result.ok) this.#armAlarm(Math.min(...proofs.map((p) => p.expiresAt)));
    return result;
  }

  /** Expired proofs can no longer be replayed (their exp check fails first), so they are dropped. */
  override async alarm(): Promise<void> {
    const nowSeconds = Math.floor(Date.now() / 1000);
    this.ctx.storage.sql.exec("DELETE FROM used_assertions WHERE expires_at < ?", nowSeconds);
    this.#alarmAt = null;
    const next = this.ctx.storage.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM used_assertions").one().at;
    if (next !== null) this.#armAlarm(next);
  }

  #armAlarm(expiresAtSeconds: number): void {
    // One alarm per object, at the earliest deadline; later deadlines are picked up when it fires.
    const at = (expiresAtSeconds + 1) * 1000;
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }
}
