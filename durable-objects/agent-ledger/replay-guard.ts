import { SECOND_MS } from "../../lib/time.ts";

/** One identity proof to burn: its `jti` and when it stops being acceptable anyway (epoch seconds). */
export type ProofUse = { jti: string; expiresAt: number };

/**
 * `used_assertions`: every assertion `jti` the agent has used, kept until that assertion would have expired anyway
 * (RFC 7523 §3 item 7), which is what makes replay detection exact. Its methods run inside the ledger's transaction.
 */
export class ReplayGuard {
  readonly #sql: SqlStorage;
  readonly #wakeAt: (at: number) => void;

  /** `wakeAt` asks the ledger's one alarm for a deadline (epoch ms): the purge of the earliest expiry. */
  constructor(sql: SqlStorage, wakeAt: (at: number) => void) {
    this.#sql = sql;
    this.#wakeAt = wakeAt;
  }

  /** The first proof already used and not yet expired, or undefined. Reads only, so a refusal writes nothing. */
  firstReplayed(proofs: readonly ProofUse[], nowSeconds: number): string | undefined {
    return proofs.find(
      (proof) =>
        this.#sql.exec("SELECT 1 FROM used_assertions WHERE jti = ? AND expires_at >= ?", proof.jti, nowSeconds).toArray().length > 0,
    )?.jti;
  }

  /** Marks the proofs used until they expire. */
  record(proofs: readonly ProofUse[]): void {
    for (const proof of proofs)
      this.#sql.exec("INSERT OR REPLACE INTO used_assertions (jti, expires_at) VALUES (?, ?)", proof.jti, proof.expiresAt);
    if (proofs.length > 0) this.#wakeAfter(Math.min(...proofs.map((p) => p.expiresAt)));
  }

  /** The first replayed jti, or undefined after recording all the proofs: nothing is written on refusal. */
  burn(proofs: readonly ProofUse[], nowSeconds: number): string | undefined {
    const replayed = this.firstReplayed(proofs, nowSeconds);
    if (replayed === undefined) this.record(proofs);
    return replayed;
  }

  /** Drops expired proofs (their exp check fails first, so they cannot be replayed) and asks to wake for the next. */
  purgeExpired(nowSeconds: number): void {
    this.#sql.exec("DELETE FROM used_assertions WHERE expires_at < ?", nowSeconds);
    const next = this.#sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM used_assertions").one().at;
    if (next !== null) this.#wakeAfter(next);
  }

  #wakeAfter(expiresAtSeconds: number): void {
    this.#wakeAt((expiresAtSeconds + 1) * SECOND_MS);
  }
}
