/**
 * Group commit for a Durable Object: synchronous storage work of calls that arrive close together runs in one
 * turn, so one SQLite commit (and, in production, one replication round) makes all of it durable instead of one
 * commit per call. Each call still gets its own result, and its response still waits for its own writes: the
 * object's output gate holds every reply until the commit that covers it is durable.
 *
 * A call waits at most until the next macrotask, which is when calls already queued behind it have been
 * delivered; under no load that is one turn of the event loop. Work runs in arrival order, each piece on its own,
 * so a piece that throws fails its caller only (the caller's `transactionSync` rolls its writes back).
 */
export class GroupCommit {
  #queue: { work: () => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void }[] = [];
  #scheduled = false;

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
    for (const item of this.#queue.splice(0)) {
      try {
        item.resolve(item.work());
      } catch (error) {
        item.reject(error);
      }
    }
  }
}
