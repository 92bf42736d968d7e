import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { GroupCommit } from "../../durable-objects/group-commit.ts";

/** Runs `body` with the real SQLite storage of a fresh object (any class will do) and a scratch table in it. */
function withStorage<T>(body: (storage: DurableObjectStorage) => Promise<T>): Promise<T> {
  return runInDurableObject(env.AGENT_LEDGER.getByName(crypto.randomUUID()), async (_instance, state) => {
    state.storage.sql.exec("CREATE TABLE scratch (n INTEGER PRIMARY KEY)");
    return body(state.storage);
  });
}

const insert = (storage: DurableObjectStorage, n: number) => storage.sql.exec("INSERT INTO scratch (n) VALUES (?)", n).rowsWritten;
const stored = (storage: DurableObjectStorage) =>
  storage.sql
    .exec<{ n: number }>("SELECT n FROM scratch ORDER BY n")
    .toArray()
    .map((r) => r.n);

describe("GroupCommit", () => {
  it("runs the work of calls made together in one later turn, in arrival order, each with its own result", async () => {
    await withStorage(async (storage) => {
      const group = new GroupCommit(storage);
      const ran: number[] = [];
      const calls = [1, 2, 3].map((n) =>
        group.run(() => {
          ran.push(n);
          return insert(storage, n) * n;
        }),
      );
      // Nothing runs synchronously: later callers of the same turn can still join the group.
      expect(ran).toEqual([]);
      expect(await Promise.all(calls)).toEqual([1, 2, 3]);
      expect(ran).toEqual([1, 2, 3]);
      expect(stored(storage)).toEqual([1, 2, 3]);
    });
  });

  it("lets each piece see the writes of the pieces before it in the group", async () => {
    await withStorage(async (storage) => {
      const group = new GroupCommit(storage);
      const [first, second] = await Promise.all([
        group.run(() => insert(storage, 7)),
        group.run(() => storage.sql.exec("INSERT OR IGNORE INTO scratch (n) VALUES (7)").rowsWritten),
      ]);
      expect([first, second]).toEqual([1, 0]);
    });
  });

  it("fails only the caller whose work threw, rolls back only its writes, and reports the rollback", async () => {
    await withStorage(async (storage) => {
      let rollbacks = 0;
      const group = new GroupCommit(storage, () => rollbacks++);
      const results = await Promise.allSettled([
        group.run(() => insert(storage, 1)),
        group.run(() => {
          insert(storage, 2);
          throw new Error("broken piece");
        }),
        group.run(() => insert(storage, 3)),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(results[1]).toMatchObject({ reason: new Error("broken piece") });
      expect(stored(storage)).toEqual([1, 3]);
      expect(rollbacks).toBeGreaterThan(0);
    });
  });

  it("starts a new group for calls made after a group ran", async () => {
    await withStorage(async (storage) => {
      const group = new GroupCommit(storage);
      expect(await group.run(() => insert(storage, 1))).toBe(1);
      expect(await group.run(() => insert(storage, 2))).toBe(1);
      expect(stored(storage)).toEqual([1, 2]);
    });
  });
});
