/**
 * Where a verifier remembers the DPoP proofs it accepted, so that a captured request cannot be sent again
 * (RFC 9449 §11.1). A proof is only good for its window (`DPOP_PROOF_MAX_AGE_SECONDS` plus the clock tolerance
 * from its `iat`), so each entry is needed only until then.
 *
 * @example
 * const store: DpopReplayStore = { useOnce: async (key, expiresAt) => redis.set(key, "1", { NX: true, PXAT: expiresAt }) === "OK" };
 */
export type DpopReplayStore = {
  /**
   * Records `key` until `expiresAt` (epoch milliseconds: the first instant the proof is stale, so the key may be
   * forgotten once `now >= expiresAt`). Resolves true the first time, false when the key is already recorded and not
   * expired. Must be atomic: two concurrent calls with one key may not both resolve true.
   * Rejects when it cannot tell (the verifier then refuses the proof as unverifiable, never accepts it).
   */
  useOnce(key: string, expiresAt: number): Promise<boolean>;
};

/** Enough for a busy isolate: a service sending more proofs than this per minute should use a shared store anyway. */
export const DEFAULT_MEMORY_REPLAY_CAPACITY = 100_000;

/**
 * The default store: a bounded map in this process (in a Worker, this isolate). It sees only the proofs this
 * process verified, so a replay sent to another isolate or instance passes; services that need more deploy
 * `DpopReplayDurableObject` (`@writ/verifier/dpop-replay-durable-object`) or pass their own store.
 *
 * When full of unexpired entries it refuses new ones (the verifier answers 503) rather than forgetting one early,
 * which would let that proof be replayed. Only proofs that passed every other check are recorded, so only the
 * holders of bound tokens' keys can fill it.
 *
 * @example
 * const verifier = createVerifier({ issuer, audience, dpop: { replayStore: memoryDpopReplayStore({ capacity: 10_000 }) } });
 */
export function memoryDpopReplayStore(options: { capacity?: number; now?: () => number } = {}): DpopReplayStore {
  const capacity = options.capacity ?? DEFAULT_MEMORY_REPLAY_CAPACITY;
  if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError("Writ verifier: replay store capacity must be a positive integer");
  const now = options.now ?? Date.now;
  // Insertion order is only roughly expiry order: a proof's window starts at its `iat`, which the client chooses within
  // the clock tolerance. So each lookup checks the entry's own expiry, the cheap sweep stops at the first live entry,
  // and only a full store is swept entirely (an expired entry may sit behind one that expires later).
  const seen = new Map<string, number>();

  function dropExpired(at: number, everywhere: boolean): void {
    for (const [key, expiresAt] of seen) {
      if (expiresAt > at) {
        if (everywhere) continue;
        break;
      }
      seen.delete(key);
    }
  }

  return {
    async useOnce(key, expiresAt) {
      const at = now();
      dropExpired(at, false);
      const known = seen.get(key);
      if (known !== undefined && known > at) return false;
      if (known !== undefined) seen.delete(key);
      else if (seen.size >= capacity) {
        dropExpired(at, true);
        if (seen.size >= capacity) throw new Error(`DPoP replay store full (${capacity} unexpired proofs)`);
      }
      seen.set(key, expiresAt);
      return true;
    },
  };
}
