import { describe, expect, it } from "vitest";
import { GroupCommit } from "../../durable-objects/group-commit.ts";

describe("GroupCommit", () => {
  it("runs the work of calls made together in one later turn, in arrival order, each with its own result", async () => {
    const group = new GroupCommit();
    const ran: number[] = [];
    const calls = [1, 2, 3].map((n) =>
      group.run(() => {
        ran.push(n);
        return n * 10;
      }),
    );
    // Nothing runs synchronously: later callers of the same turn can still join the group.
    expect(ran).toEqual([]);
    expect(await Promise.all(calls)).toEqual([10, 20, 30]);
    expect(ran).toEqual([1, 2, 3]);
  });

  it("fails only the caller whose work threw", async () => {
    const group = new GroupCommit();
    const results = await Promise.allSettled([
      group.run(() => "first"),
      group.run(() => {
        throw new Error("broken piece");
      }),
      group.run(() => "third"),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(results[1]).toMatchObject({ reason: new Error("broken piece") });
  });

  it("starts a new group for calls made after a group ran", async () => {
    const group = new GroupCommit();
    expect(await group.run(() => "a")).toBe("a");
    expect(await group.run(() => "b")).toBe("b");
  });
});
