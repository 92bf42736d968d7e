/**
 * Group commit for a Durable Object: storage work of calls that arrive close together runs in one turn and one
 * transaction, so one SQLite commit (and, in production, one replication round) makes all of it durable instead
 * of one commit per call. Each call still gets its own result, and its reply still waits for its own writes: the
 * object's output gate holds every reply until the commit that covers it is durable.
 *
 * A call waits at most until the next macrotask, which is when calls already queued behind it have been
 * delivered; under no load that is one turn of the event loop. Work runs in arrival order and must be
 * synchronous. If a piece throws, the whole group is rolled back and each piece runs again in a transaction of
 * its own, so only the caller whose work failed sees the error (`onRollback` first drops any in-memory state the
 * rolled-back work may have cached).
 *
 * A throw is therefore for bugs only: it costs the whole group a rollback and a replay, and reaches its caller as an
 * exception across RPC, which workerd logs as uncaught. Work must check what it is about to write (a key already
 * there, a budget spent) and return refusals as values: issue 11 found a token id recorded twice failing its primary
 * key here (`UNIQUE constraint failed: issued_tokens.jti`); the ledger now refuses it before writing.
 */
export class GroupCommit {
  readonly #storage: Pick<DurableObjectStorage, "transactionSync">;
  readonly #onRollback: () => void;
  #queue: { work: () => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void }[] = [];
  #scheduled = false;

  constructor(storage: Pick<DurableObjectStorage, "transactionSync">, onRollback: () => void = () => {}) {
    this.#storage = storage;
    this.#onRollback = onRollback;
  }

  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      setTimeout(() => this.#flush(), 0);
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue.splice(0);
    let results: unknown[];
    try {
      results = this.#storage.transactionSync(() => batch.map((item) => item.work()));
    } catch {
      this.#onRollback();
      for (const item of batch) {
        try {
          item.resolve(this.#storage.transactionSync(item.work));
        } catch (error) {
          this.#onRollback();
          item.reject(error);
        }
      }
      return;
    }
    batch.forEach((item, i) => {
      item.resolve(results[i]);
    });
  }
}
