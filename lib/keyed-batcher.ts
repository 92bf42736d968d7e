/** One item's answer within a batch: its value, or the error that item alone failed with. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * How a caller would send a batch, and how it keeps its own request alive until it has its answer. Every caller
 * passes its own; a batch is sent with the `send` of the caller that sends it, a member waiting for it, so the round
 * trip belongs to a request that waits for it (an I/O object of one request cannot be used by another in Workers).
 */
export type BatchIo<A, R> = {
  send: (items: A[]) => Promise<Settled<R>[]>;
  /** `ctx.waitUntil`, called for a caller that sends: its client disconnecting must not cancel a round trip others wait for. */
  keepAlive?: (settled: Promise<unknown>) => void;
};

/** How often a waiting batch's opener looks whether the round trip ahead of it has returned (ms). */
const POLL_MS = 1;

/** After this long without a look from its opener (ms), a waiting batch is taken over by the next caller that joins it. */
const ADOPT_AFTER_MS = 1_000;

type Entry<A, R> = { item: A; resolve: (value: R) => void; reject: (error: unknown) => void };
/** A batch waiting for the round trip ahead of it; `poller` names the request that will send it. */
type Waiting<A, R> = { entries: Entry<A, R>[]; sent: boolean; polledAt: number; poller: object | undefined };

/**
 * Calls with the same key share round trips: one round trip of a key is under way at a time, and the calls arriving
 * meanwhile wait together for the next. A call that finds nothing of its key under way is sent at once, alone, with
 * no timer: an idle caller waits for nothing. Otherwise it opens a batch (or joins the open one, up to `maxBatch`),
 * which is sent as soon as the round trip ahead of it has returned. So batches grow with load by themselves, and
 * each call still gets its own answer.
 *
 * In Workers, the requests of an isolate share one batcher: a batch is sent from its opener's request, and the
 * others' promises are resolved from there (the runtime runs each continuation in its own request). Nothing else
 * crosses requests: the opener notices that the round trip ahead has returned by polling with its own timer, never by
 * being woken from another request. (A version that let the returning request start the waiting batch lost a round
 * trip now and then under load, and every later call of the key waited behind it.) A round trip older than the
 * deadline no longer holds anyone back; a waiting batch its opener stopped looking after is taken over by the next
 * caller that joins it; a joiner that gives up before its batch is sent is taken out of it.
 */
export class KeyedBatcher<A, R> {
  readonly #open = new Map<string, Waiting<A, R>>();
  /** When each round trip under way per key started, oldest first. */
  readonly #inFlight = new Map<string, number[]>();
  readonly #maxBatch: number;
  readonly #deadlineMs: number;

  /** `deadlineMs`: how long a call waits for its answer before it fails (its batch may still complete). */
  constructor(options: { maxBatch: number; deadlineMs: number }) {
    if (!(options.maxBatch >= 1 && options.deadlineMs > 0)) throw new TypeError("maxBatch must be at least 1 and deadlineMs above 0");
    this.#maxBatch = options.maxBatch;
    this.#deadlineMs = options.deadlineMs;
  }

  call(key: string, item: A, io: BatchIo<A, R>): Promise<R> {
    let entry: Entry<A, R> | undefined;
    const answer = new Promise<R>((resolve, reject) => {
      entry = { item, resolve, reject };
    });
    if (entry === undefined) throw new Error("unreachable: a Promise executor runs at once");
    // A caller that sends keeps its request alive until it has its answer: a client that disconnects must not cancel
    // a round trip others wait for. (A joiner that loses its client loses its continuation, as it would unbatched.)
    const keepAlive = () => io.keepAlive?.(answer.catch(() => {}));
    const open = this.#open.get(key);
    if (open !== undefined && open.entries.length < this.#maxBatch) {
      open.entries.push(entry);
      // An opener whose request stopped polling (torn down) would strand its batch: the newcomer takes it over.
      if (Date.now() - open.polledAt > ADOPT_AFTER_MS) {
        keepAlive();
        this.#poll(key, open, io);
      }
      return this.#joined(answer, open, entry);
    }
    keepAlive();
    if (this.#underWay(key) === 0) {
      void this.#send(key, [entry], io);
      return answer;
    }
    const batch: Waiting<A, R> = { entries: [entry], sent: false, polledAt: Date.now(), poller: undefined };
    this.#open.set(key, batch);
    this.#poll(key, batch, io);
    return answer;
  }

  /**
   * Makes `io`'s request the one that sends `batch`: it looks every POLL_MS, with its own timer (never woken from
   * another request: see the class comment), whether the round trip ahead has returned, and then sends.
   */
  #poll(key: string, batch: Waiting<A, R>, io: BatchIo<A, R>): void {
    const poller = {};
    batch.poller = poller;
    batch.polledAt = Date.now();
    const poll = () => {
      if (batch.sent || batch.poller !== poller) return;
      batch.polledAt = Date.now();
      if (this.#underWay(key) > 0) {
        setTimeout(poll, POLL_MS);
        return;
      }
      if (this.#open.get(key) === batch) this.#open.delete(key);
      batch.sent = true;
      if (batch.entries.length > 0) void this.#send(key, batch.entries, io);
    };
    setTimeout(poll, POLL_MS);
  }

  /**
   * A joiner waits on another request's round trip, which is no I/O of its own: a timer is, so the runtime does not
   * take the wait for a hang (workerd cancels a request with nothing pending), and it bounds the wait. It is set and
   * cleared here, in the joiner's own request: a timer belongs to the request that set it. A joiner that gives up
   * before its batch is sent leaves it: nothing is done in the name of a caller already answered with a failure.
   */
  #joined(answer: Promise<R>, batch: Waiting<A, R>, entry: Entry<A, R>): Promise<R> {
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => {
        const at = batch.entries.indexOf(entry);
        if (!batch.sent && at >= 0) batch.entries.splice(at, 1);
        reject(new Error(`no answer from the batch within ${this.#deadlineMs} ms`));
      }, this.#deadlineMs);
    });
    return Promise.race([answer, late]).finally(() => clearTimeout(deadline));
  }

  /** Round trips of `key` under way, not counting any older than the deadline: one that never answers is forgotten. */
  #underWay(key: string): number {
    const started = this.#inFlight.get(key);
    if (started === undefined) return 0;
    const cutoff = Date.now() - this.#deadlineMs;
    while (started.length > 0 && (started[0] as number) < cutoff) started.shift();
    if (started.length === 0) this.#inFlight.delete(key);
    return started.length;
  }

  /** Keys with a batch open to joiners or under way: for tests (the maps must not grow with keys seen once). */
  get activeKeys(): number {
    return new Set([...this.#open.keys(), ...this.#inFlight.keys()]).size;
  }

  async #send(key: string, entries: Entry<A, R>[], io: BatchIo<A, R>): Promise<void> {
    const started = Date.now();
    const under = this.#inFlight.get(key);
    if (under === undefined) this.#inFlight.set(key, [started]);
    else under.push(started);
    try {
      const results = await io.send(entries.map((entry) => entry.item));
      if (results.length !== entries.length) throw new Error(`a batch of ${entries.length} got ${results.length} answers`);
      entries.forEach((entry, i) => {
        const result = results[i] as Settled<R>;
        if (result.ok) entry.resolve(result.value);
        else entry.reject(result.error);
      });
    } catch (error) {
      for (const entry of entries) entry.reject(error);
    } finally {
      const under = this.#inFlight.get(key);
      const at = under?.indexOf(started) ?? -1;
      if (under !== undefined && at >= 0) under.splice(at, 1);
      if (under?.length === 0) this.#inFlight.delete(key);
    }
  }
}
