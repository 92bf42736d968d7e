/**
 * A DPoP replay store shared by every isolate of a Workers service: a Durable Object class to deploy, and the store
 * that uses its namespace. The in-memory default sees only one isolate's proofs; with this, a proof replayed to any
 * instance is refused. One object per DPoP key (the store routes by the key's thumbprint), so agents do not queue
 * behind each other.
 *
 * Types are structural (no `cloudflare:workers` import), so this module also loads in Node for tests and bundlers.
 *
 * @example
 * // worker.ts of the service
 * export { DpopReplayDurableObject } from "@writ/verifier/dpop-replay-durable-object";
 * const verifier = createVerifier({ issuer, audience, dpop: { replayStore: durableObjectDpopReplayStore(env.DPOP_REPLAY) } });
 * // wrangler.toml
 * // [[durable_objects.bindings]] name = "DPOP_REPLAY", class_name = "DpopReplayDurableObject"
 * // [[migrations]] tag = "dpop-replay", new_sqlite_classes = ["DpopReplayDurableObject"]
 */
import type { DpopReplayStore } from "./dpop-replay-store.ts";

/** The subset of `DurableObjectStorage` used here. */
export type ReplayStorage = {
  get<T>(key: string): Promise<T | undefined>;
  put(entries: Record<string, unknown>): Promise<void>;
  delete(keys: string[]): Promise<number>;
  list<T>(options: { prefix: string; end: string; limit: number }): Promise<Map<string, T>>;
  getAlarm(): Promise<number | null>;
  setAlarm(scheduledTime: number): Promise<void>;
};
/** The subset of `DurableObjectNamespace` used here. */
export type ReplayNamespace = {
  idFromName(name: string): unknown;
  get(id: never): { fetch(input: string, init: RequestInit): Promise<Response> };
};

const MAX_KEY_CHARS = 512;
/** Deleting in batches keeps one alarm run short; the alarm reschedules itself while expired entries remain. */
const PURGE_BATCH = 512;
const TIME_DIGITS = 15;

const KEY_PREFIX = "k:";
const EXPIRY_PREFIX = "e:";
const expiryKey = (expiresAt: number, key: string) => `${EXPIRY_PREFIX}${String(expiresAt).padStart(TIME_DIGITS, "0")}:${key}`;

/**
 * The Durable Object: `POST /use` with `{ key, expiresAt }` answers `{ firstUse }`. Its storage reads and writes for
 * one request run without other I/O between them, so the object's input gate makes check-and-record atomic.
 * Expired entries are deleted by an alarm, in expiry order (an index keyed by the expiry time).
 */
export class DpopReplayDurableObject {
  /**
   * The longest the object keeps a key: a caller asking for more is refused (400, so the verifier answers 503), never
   * shortened, which would reopen the proof to replay. A verifier's longest need is a proof dated the largest clock
   * tolerance (300 s) ahead and accepted for the max age (60 s) plus that tolerance after its `iat`, to the end of that
   * second: 661 s from now. The rest is slack for the object's clock running behind the verifier's.
   */
  static readonly maxRetentionMs = 15 * 60_000;
  readonly #storage: ReplayStorage;

  constructor(state: { storage: ReplayStorage }, _env?: unknown) {
    this.#storage = state.storage;
  }

  async fetch(request: Request): Promise<Response> {
    if (request.method !== "POST" || new URL(request.url).pathname !== "/use") return new Response(null, { status: 404 });
    let key: unknown;
    let expiresAt: unknown;
    try {
      ({ key, expiresAt } = (await request.json()) as { key?: unknown; expiresAt?: unknown });
    } catch {
      return new Response(null, { status: 400 });
    }
    if (
      typeof key !== "string" ||
      key.length === 0 ||
      key.length > MAX_KEY_CHARS ||
      typeof expiresAt !== "number" ||
      !Number.isFinite(expiresAt)
    )
      return new Response(null, { status: 400 });
    let firstUse: boolean;
    try {
      firstUse = await this.useOnce(key, expiresAt);
    } catch (error) {
      if (error instanceof RangeError) return new Response(null, { status: 400 });
      throw error;
    }
    return Response.json({ firstUse });
  }

  /** Throws a `RangeError` for an expiry beyond `maxRetentionMs` from now, recording nothing. */
  async useOnce(key: string, requestedExpiry: number): Promise<boolean> {
    const now = Date.now();
    const { maxRetentionMs } = DpopReplayDurableObject;
    if (requestedExpiry > now + maxRetentionMs) throw new RangeError(`DPoP replay expiry more than ${maxRetentionMs} ms ahead`);
    // Rounded up: rounding down would forget the key before the instant the caller named.
    const expiresAt = Math.ceil(requestedExpiry);
    const known = await this.#storage.get<number>(KEY_PREFIX + key);
    if (known !== undefined && known > now) return false;
    await this.#storage.put({ [KEY_PREFIX + key]: expiresAt, [expiryKey(expiresAt, key)]: key });
    const alarm = await this.#storage.getAlarm();
    if (alarm === null || alarm > expiresAt) await this.#storage.setAlarm(expiresAt);
    return true;
  }

  async alarm(): Promise<void> {
    const now = Date.now();
    const expired = await this.#storage.list<string>({ prefix: EXPIRY_PREFIX, end: expiryKey(now + 1, ""), limit: PURGE_BATCH });
    if (expired.size > 0) await this.#storage.delete([...expired.keys(), ...[...expired.values()].map((key) => KEY_PREFIX + key)]);
    const [next] = await this.#storage.list<string>({ prefix: EXPIRY_PREFIX, end: `${EXPIRY_PREFIX}~`, limit: 1 });
    if (next === undefined) return;
    const nextExpiry = Number(next[0].slice(EXPIRY_PREFIX.length, EXPIRY_PREFIX.length + TIME_DIGITS));
    await this.#storage.setAlarm(Math.max(nextExpiry, now + 1000));
  }
}

/**
 * The `DpopReplayStore` backed by a `DpopReplayDurableObject` namespace. Routes each proof to the object of its DPoP
 * key (the part of the store key before the first `:`, which the verifier sets to the key's thumbprint).
 *
 * @example
 * const replayStore = durableObjectDpopReplayStore(env.DPOP_REPLAY);
 */
export function durableObjectDpopReplayStore(namespace: ReplayNamespace): DpopReplayStore {
  if (typeof namespace !== "object" || namespace === null || typeof namespace.idFromName !== "function")
    throw new TypeError("Writ verifier: durableObjectDpopReplayStore needs a Durable Object namespace binding");
  return {
    async useOnce(key, expiresAt) {
      const shard = key.split(":", 1)[0] ?? key;
      const stub = namespace.get(namespace.idFromName(shard) as never);
      const response = await stub.fetch("https://dpop-replay/use", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ key, expiresAt }),
      });
      if (!response.ok) throw new Error(`DPoP replay object answered ${response.status}`);
      const { firstUse } = (await response.json()) as { firstUse?: unknown };
      if (typeof firstUse !== "boolean") throw new Error("DPoP replay object gave no firstUse");
      return firstUse;
    },
  };
}
