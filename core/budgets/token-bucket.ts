import { MINUTE_MS } from "../../lib/time.ts";

/** A token bucket's stored state: tokens left and when that was computed (epoch ms). */
export type Bucket = { tokens: number; updatedAt: number };
/** A rate limit: tokens drip back at `perMinute`, up to `burst`. */
export type Rate = { perMinute: number; burst: number };

/**
 * The bucket at `now`: what dripped back since it was stored, never above the burst. A bucket never stored is full.
 * The one refill, used by the budget check and by what the admin view says is left. Its time never goes back: a
 * request whose `now` is older than the stored state (it waited for a batched round trip) must not make the next
 * refill count the same interval twice.
 */
export function refill(bucket: Bucket | undefined, rate: Rate, now: number): Bucket {
  if (!bucket) return { tokens: rate.burst, updatedAt: now };
  const elapsed = Math.max(0, now - bucket.updatedAt);
  return {
    tokens: Math.min(rate.burst, bucket.tokens + (elapsed * rate.perMinute) / MINUTE_MS),
    updatedAt: Math.max(now, bucket.updatedAt),
  };
}

/** How long (ms) until a refilled bucket holds one whole token again; 0 when it already does. */
export function untilNextToken(bucket: Bucket, rate: Rate): number {
  return bucket.tokens >= 1 ? 0 : (1 - bucket.tokens) / (rate.perMinute / MINUTE_MS);
}
