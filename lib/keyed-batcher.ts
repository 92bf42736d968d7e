/** One item's answer within a batch: its value, or the error that item alone failed with. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * How a caller would send a batch, and how it keeps its own request alive. Every caller passes its own; a batch is
 * sent with the `send` of a member that waits for it, so the round trip belongs to a request that waits for it (an
 * I/O object of one request cannot be used by another in Workers).
 */
export type BatchIo<A, R> = {
  send: (items: A[]) => Promise<Settled<R>[]>;
  /** `ctx.waitUntil`, for a caller that polls or sends: its client disconnecting must not strand others. */
  keepAlive?: (settled: Promise<unknown>) => void;
};

/** How often a waiting batch's opener looks whether the round trip ahead of it has returned (ms). */
const POLL_MS = 1;

/** After this long without a look from its poller (ms), a waiting batch is taken over by the next caller of its key. */
const ADOPT_AFTER_MS = 1_000;

type Entry<A, R> = { item: A; resolve: (value: R) => void; reject: (error: unknown) => void };
/** A batch waiting for the round trip ahead of it; `poller` names the request that will send it. Its members leave it
 * when they give up; a batch left empty is dropped. */
type Waiting<A, R> = {
  entries: Entry<A, R>[];
  sent: boolean;
  polledAt: number;
  poller: object | undefined;
  /** Settles once the batch's round trip has, or once it is dropped: what its poller's request is kept alive for. */
  done: Promise<void>;
  finish: () => void;
};

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
 * trip now and then under load, and every later call of the key waited behind it.)
 *
 * Every wait is bounded: a call that is not sent at once fails after `deadlineMs`, and if its batch had not been sent
 * by then it is taken out of it, so nothing is done in the name of a caller already answered with a failure. A round
 * trip older than the deadline no longer holds anyone back. A waiting batch its poller stopped looking after (its
 * request torn down) is taken over by the next caller of its key, which joins it even when it is full.
 */
export class KeyedBatcher<A, R> {
  /** The batches waiting per key, oldest first. */
  readonly #waiting = new Map<string, Waiting<A, R>[]>();
  /** When each round trip under way per key started, oldest first. */
  readonly #inFlight = new Map<string, number[]>();
  readonly #maxBatch: number;
  readonly #deadlineMs: number;

  /** `deadlineMs`: how long a call that waits may wait for its answer before it fails (its batch may still complete). */
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
    const queue = this.#waiting.get(key);
    if (queue === undefined && this.#underWay(key) === 0) {
      void this.#send(key, [entry], io);
      return answer;
    }
    const now = Date.now();
    const stranded = queue?.find((batch) => now - batch.polledAt > ADOPT_AFTER_MS);
    if (stranded !== undefined) {
      stranded.entries.push(entry);
      this.#poll(key, stranded, io);
      return this.#bounded(key, answer, stranded, entry);
    }
    const newest = queue?.at(-1);
    if (newest !== undefined && newest.entries.length < this.#maxBatch) {
      newest.entries.push(entry);
      return this.#bounded(key, answer, newest, entry);
    }
    const batch = waitingBatch(entry, now);
    if (queue === undefined) this.#waiting.set(key, [batch]);
    else queue.push(batch);
    this.#poll(key, batch, io);
    return this.#bounded(key, answer, batch, entry);
  }

  /** Keys with a batch waiting or a round trip under way: for tests (the maps must not grow with keys seen once). */
  get activeKeys(): number {
    return new Set([...this.#waiting.keys(), ...this.#inFlight.keys()]).size;
  }

  /**
   * Makes `io`'s request the one that sends `batch`: it looks every POLL_MS, with its own timer (never woken from
   * another request: see the class comment), whether the round trip ahead has returned, and then sends. The request
   * is kept alive until the batch is done, so a client that hangs up (or the poller's own deadline) does not strand it.
   */
  #poll(key: string, batch: Waiting<A, R>, io: BatchIo<A, R>): void {
    const poller = {};
    batch.poller = poller;
    batch.polledAt = Date.now();
    io.keepAlive?.(batch.done);
    const poll = () => {
      if (batch.sent || batch.poller !== poller) return;
      if (batch.entries.length === 0) {
        // Everyone in it gave up (its deadline dropped it already): nothing to send, nothing to wait for.
        batch.sent = true;
        batch.finish();
        return;
      }
      batch.polledAt = Date.now();
      if (this.#underWay(key) > 0) {
        setTimeout(poll, POLL_MS);
        return;
      }
      batch.sent = true;
      this.#forget(key, batch);
      // A snapshot: members giving up from now on no longer change what answers whom.
      const entries = batch.entries.splice(0);
      if (entries.length > 0) void this.#send(key, entries, io).finally(batch.finish);
      else batch.finish();
    };
    setTimeout(poll, POLL_MS);
  }

  /**
   * The answer of a caller that waits: waiting on a round trip yet to be sent, or another request's, is no I/O of its
   * own; a timer is, so the runtime does not take the wait for a hang (workerd cancels a request with nothing
   * pending), and it bounds the wait. Set and cleared here, in the caller's own request: a timer belongs to the
   * request that set it.
   */
  #bounded(key: string, answer: Promise<R>, batch: Waiting<A, R>, entry: Entry<A, R>): Promise<R> {
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => {
        const at = batch.entries.indexOf(entry);
        if (at >= 0) batch.entries.splice(at, 1);
        if (!batch.sent && batch.entries.length === 0) {
          this.#forget(key, batch);
          batch.finish();
        }
        reject(new Error(`no answer from the batch within ${this.#deadlineMs} ms`));
      }, this.#deadlineMs);
    });
    return Promise.race([answer, late]).finally(() => clearTimeout(deadline));
  }

  /** Takes a batch off its key's queue (it was sent, or everyone in it gave up). */
  #forget(key: string, batch: Waiting<A, R>): void {
    const queue = this.#waiting.get(key);
    if (queue === undefined) return;
    const at = queue.indexOf(batch);
    if (at >= 0) queue.splice(at, 1);
    if (queue.length === 0) this.#waiting.delete(key);
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

  async #send(key: string, entries: Entry<A, R>[], io: BatchIo<A, R>): Promise<void> {
    const started = Date.now();
    const under = this.#inFlight.get(key);
    if (under === undefined) this.#inFlight.set(key, [started]);
    else under.push(started);
    try {
      const roundTrip = io.send(entries.map((entry) => entry.item));
      // Others' answers ride on this round trip: the sender's request must see it through even if its client left.
      io.keepAlive?.(roundTrip.catch(() => {}));
      const results = await roundTrip;
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

function waitingBatch<A, R>(entry: Entry<A, R>, now: number): Waiting<A, R> {
  let finish = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return { entries: [entry], sent: false, polledAt: now, poller: undefined, done, finish };
}
