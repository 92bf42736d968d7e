/** Bounds the memory a flood of distinct valid tokens can take; at 5 s per answer that is 2,000 new tokens a second. */
export const MAX_INTROSPECTION_CACHE_ENTRIES = 10_000;

type Entry = { active: boolean; expiresAtMs: number };

/**
 * Introspection answers by token `jti`, each until its own deadline, holding at most `maxEntries`: when full, the
 * oldest answer goes first (answers all live a few seconds, so the oldest is also about the first to expire).
 * Pure: the caller passes `nowMs`, so tests move the clock instead of sleeping.
 *
 * @example
 * const cache = new IntrospectionCache();
 * cache.set(grant.jti, true, Date.now() + 5000, Date.now());
 * cache.get(grant.jti, Date.now()); // true, for five seconds
 */
export class IntrospectionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;

  constructor(maxEntries: number = MAX_INTROSPECTION_CACHE_ENTRIES) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError("Writ verifier: maxEntries must be a positive integer");
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The answer for `jti` while it is fresh; `undefined` once it is past its deadline (and then forgotten). */
  get(jti: string, nowMs: number): boolean | undefined {
    const entry = this.#entries.get(jti);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs > nowMs) return entry.active;
    this.#entries.delete(jti);
    return undefined;
  }

  /** Remembers an answer until `expiresAtMs`; one that is already stale is not stored at all. */
  set(jti: string, active: boolean, expiresAtMs: number, nowMs: number): void {
    // Deleting first moves a refreshed answer to the young end of the Map's insertion order.
    this.#entries.delete(jti);
    if (expiresAtMs <= nowMs) return;
    if (this.#entries.size >= this.#maxEntries) this.#evict(nowMs);
    this.#entries.set(jti, { active, expiresAtMs });
  }

  /**
   * Drops stale answers from the old end, then the oldest one if still full. Walking only the old end keeps an
   * insert cheap under a flood of new tokens (a full scan there would cost 10,000 steps per token).
   */
  #evict(nowMs: number): void {
    for (const [jti, entry] of this.#entries) {
      if (entry.expiresAtMs > nowMs) break;
      this.#entries.delete(jti);
    }
    if (this.#entries.size < this.#maxEntries) return;
    const oldest = this.#entries.keys().next();
    if (oldest.done !== true) this.#entries.delete(oldest.value);
  }
}
