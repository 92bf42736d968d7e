import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type BatchIo, KeyedBatcher, type Settled } from "../../lib/keyed-batcher.ts";

/** A fake round trip the test answers by hand: every batch sent, and a way to settle it. */
function recorder() {
  const sent: { items: number[]; answer: (results: Settled<string>[]) => void; fail: (error: unknown) => void }[] = [];
  const kept: Promise<unknown>[] = [];
  const io = (): BatchIo<number, string> => ({
    send: (items) =>
      new Promise((resolve, reject) => {
        sent.push({ items, answer: resolve, fail: reject });
      }),
    keepAlive: (settled) => {
      kept.push(settled);
    },
  });
  return { sent, kept, io };
}

const doubled = (items: number[]): Settled<string>[] => items.map((n) => ({ ok: true, value: `${n * 2}` }));
const batcher = (maxBatch = 8, deadlineMs = 5_000) => new KeyedBatcher<number, string>({ maxBatch, deadlineMs });
/** Item 1 sent alone (nothing under way yet), then `items` queued behind it: the shape most cases start from. */
function behindOne(calls: KeyedBatcher<number, string>, io: () => BatchIo<number, string>, items: number[]): Promise<string>[] {
  void calls.call("a", 1, io());
  return items.map((n) => calls.call("a", n, io()));
}
/** Lets the waiting openers look again (they poll every millisecond) and promise callbacks run. */
const later = (ms = 1) => vi.advanceTimersByTimeAsync(ms);

describe("KeyedBatcher", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends a call at once and alone when nothing of its key is under way, and sets no timer for it", async () => {
    const calls = batcher();
    const { sent, io } = recorder();
    const answer = calls.call("a", 1, io());
    expect(sent.map((s) => s.items)).toEqual([[1]]);
    expect(vi.getTimerCount()).toBe(0);
    sent[0]?.answer(doubled([1]));
    await expect(answer).resolves.toBe("2");
    expect(calls.activeKeys).toBe(0);
  });

  it("sends the calls made while one is under way together once it has returned, each with its own answer", async () => {
    const calls = batcher();
    const { sent, io } = recorder();
    const answers = [1, 2, 3, 4].map((n) => calls.call("a", n, io()));
    await later(5);
    expect(sent.map((s) => s.items)).toEqual([[1]]);
    sent[0]?.answer(doubled([1]));
    await later();
    expect(sent.map((s) => s.items)).toEqual([[1], [2, 3, 4]]);
    sent[1]?.answer(doubled([2, 3, 4]));
    await expect(Promise.all(answers)).resolves.toEqual(["2", "4", "6", "8"]);
    expect(calls.activeKeys).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("sends a waiting batch from its opener's own timer, never from the request whose round trip returned", async () => {
    const calls = batcher();
    const ahead = recorder();
    const opener = recorder();
    const joiner = recorder();
    const first = calls.call("a", 1, ahead.io());
    const second = calls.call("a", 2, opener.io());
    const third = calls.call("a", 3, joiner.io());
    ahead.sent[0]?.answer(doubled([1]));
    await vi.advanceTimersByTimeAsync(0);
    expect(opener.sent).toHaveLength(0);
    await later();
    expect(ahead.sent.map((s) => s.items)).toEqual([[1]]);
    expect(opener.sent.map((s) => s.items)).toEqual([[2, 3]]);
    expect(joiner.sent).toHaveLength(0);
    opener.sent[0]?.answer(doubled([2, 3]));
    await expect(Promise.all([first, second, third])).resolves.toEqual(["2", "4", "6"]);
    // The callers that polled or sent kept their requests alive (the opener for both); the joiner did neither.
    expect([ahead.kept.length, opener.kept.length, joiner.kept.length]).toEqual([1, 2, 0]);
  });

  it("lets the next joiner take over a waiting batch whose opener stopped looking after it", async () => {
    const calls = batcher(8, 10_000);
    const ahead = recorder();
    const opener = recorder();
    const newcomer = recorder();
    void calls.call("a", 1, ahead.io());
    const second = calls.call("a", 2, opener.io());
    ahead.sent[0]?.answer(doubled([1]));
    // The opener's request is torn down: its timers never fire again. Mimicked by dropping them.
    vi.clearAllTimers();
    vi.setSystemTime(Date.now() + 1_001);
    const third = calls.call("a", 3, newcomer.io());
    await later();
    expect(opener.sent).toHaveLength(0);
    expect(newcomer.sent.map((s) => s.items)).toEqual([[2, 3]]);
    expect(newcomer.kept).toHaveLength(2);
    newcomer.sent[0]?.answer(doubled([2, 3]));
    await expect(Promise.all([second, third])).resolves.toEqual(["4", "6"]);
  });

  it("caps a batch at maxBatch items; the overflow waits as further batches", async () => {
    const calls = batcher(2);
    const { sent, io } = recorder();
    const answers = [1, 2, 3, 4, 5, 6].map((n) => calls.call("a", n, io()));
    for (let i = 0; i < 4; i++) {
      const batch = sent[i];
      expect(batch).toBeDefined();
      batch?.answer(doubled(batch.items));
      await later();
    }
    expect(sent.map((s) => s.items)).toEqual([[1], [2, 3], [4, 5], [6]]);
    await expect(Promise.all(answers)).resolves.toEqual(["2", "4", "6", "8", "10", "12"]);
    expect(calls.activeKeys).toBe(0);
  });

  it("keeps keys apart: one key's round trip under way never holds another's back", async () => {
    const calls = batcher();
    const { sent, io } = recorder();
    void calls.call("a", 1, io());
    void calls.call("b", 10, io());
    void calls.call("a", 2, io());
    expect(sent.map((s) => s.items)).toEqual([[1], [10]]);
    expect(calls.activeKeys).toBe(2);
    sent[1]?.answer(doubled([10]));
    await later();
    expect(sent.map((s) => s.items)).toEqual([[1], [10]]);
    sent[0]?.answer(doubled([1]));
    await later();
    expect(sent.map((s) => s.items)).toEqual([[1], [10], [2]]);
  });

  it("holds the calls behind a round trip that never answers for the deadline at most; the next call goes at once", async () => {
    const calls = batcher(8, 1_000);
    const { sent, io } = recorder();
    const [next] = behindOne(calls, io, [2]);
    const failed = expect(next).rejects.toThrow("no answer from the batch within 1000 ms");
    await later(1_000);
    await failed;
    expect(sent.map((s) => s.items)).toEqual([[1]]);
    await later(1);
    const after = calls.call("a", 3, io());
    expect(sent.map((s) => s.items)).toEqual([[1], [3]]);
    sent[1]?.answer(doubled([3]));
    await expect(after).resolves.toBe("6");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("takes callers that waited past the deadline out of their batch, which is sent without them", async () => {
    const calls = batcher(8, 1_000);
    const { sent, io } = recorder();
    const [opener, early] = behindOne(calls, io, [2, 3]);
    await later(600);
    const late = calls.call("a", 4, io());
    const failed = Promise.all([expect(opener).rejects.toThrow("within 1000 ms"), expect(early).rejects.toThrow("within 1000 ms")]);
    await later(400);
    await failed;
    sent[0]?.answer(doubled([1]));
    await later(1);
    // Nothing is done in the name of a caller already answered with a failure; the opener's request still sends.
    expect(sent.map((s) => s.items)).toEqual([[1], [4]]);
    sent[1]?.answer(doubled([4]));
    await expect(late).resolves.toBe("8");
  });

  it("gives the other members their own answers when one gives up after its batch was sent", async () => {
    const calls = batcher(8, 1_000);
    const { sent, io } = recorder();
    const [two] = behindOne(calls, io, [2]);
    await later(600);
    const three = calls.call("a", 3, io());
    sent[0]?.answer(doubled([1]));
    await later(1);
    expect(sent.map((s) => s.items)).toEqual([[1], [2, 3]]);
    const gaveUp = expect(two).rejects.toThrow("within 1000 ms");
    await later(400);
    await gaveUp;
    // The round trip was under way when 2 gave up: its answer for 3 still reaches 3, not a neighbour's.
    sent[1]?.answer(doubled([2, 3]));
    await expect(three).resolves.toBe("6");
  });

  it("lets a newcomer take over a batch whose poller stalled, and the stalled poller then sends nothing", async () => {
    const calls = batcher(8, 10_000);
    const ahead = recorder();
    const opener = recorder();
    const newcomer = recorder();
    void calls.call("a", 1, ahead.io());
    const second = calls.call("a", 2, opener.io());
    ahead.sent[0]?.answer(doubled([1]));
    // The isolate is busy for over a second: the clock moves, no timer has fired yet.
    vi.setSystemTime(Date.now() + 1_001);
    const third = calls.call("a", 3, newcomer.io());
    await later(1);
    expect(opener.sent).toHaveLength(0);
    expect(newcomer.sent.map((s) => s.items)).toEqual([[2, 3]]);
    newcomer.sent[0]?.answer(doubled([2, 3]));
    await expect(Promise.all([second, third])).resolves.toEqual(["4", "6"]);
    await later(5);
    expect(opener.sent).toHaveLength(0);
    expect(calls.activeKeys).toBe(0);
  });

  it("lets a newcomer take over a full batch that a newer one replaced as the one to join", async () => {
    const calls = batcher(2, 10_000);
    const { sent, io } = recorder();
    const answers = behindOne(calls, io, [2, 3, 4]);
    vi.setSystemTime(Date.now() + 1_001);
    // Both waiting batches look abandoned; the newcomer takes over the oldest, joining it beyond its size.
    const five = calls.call("a", 5, io());
    sent[0]?.answer(doubled([1]));
    for (let round = 1; round <= 2; round++) {
      await later(1);
      // One round trip at a time, each waiting batch sent once, in whichever order their pollers look.
      expect(sent).toHaveLength(round + 1);
      const batch = sent[round];
      batch?.answer(doubled(batch.items));
    }
    await later(5);
    expect(
      sent
        .slice(1)
        .map((s) => s.items)
        .sort((a, b) => a.length - b.length),
    ).toEqual([[4], [2, 3, 5]]);
    await expect(Promise.all([...answers, five])).resolves.toEqual(["4", "6", "8", "10"]);
  });

  it("does not let a lone call overtake a batch already waiting", async () => {
    const calls = batcher();
    const { sent, io } = recorder();
    const [two] = behindOne(calls, io, [2]);
    sent[0]?.answer(doubled([1]));
    await vi.advanceTimersByTimeAsync(0);
    const three = calls.call("a", 3, io());
    await later(1);
    expect(sent.map((s) => s.items)).toEqual([[1], [2, 3]]);
    sent[1]?.answer(doubled([2, 3]));
    await expect(Promise.all([two, three])).resolves.toEqual(["4", "6"]);
  });

  it("forgets a batch everyone in it gave up on, and its poller's keep-alive settles", async () => {
    const calls = batcher(8, 1_000);
    const { sent, kept, io } = recorder();
    const [two, three] = behindOne(calls, io, [2, 3]);
    const gaveUp = Promise.all([expect(two).rejects.toThrow("within 1000 ms"), expect(three).rejects.toThrow("within 1000 ms")]);
    let pollerDone = false;
    void kept[1]?.then(() => {
      pollerDone = true;
    });
    await later(1_000);
    await gaveUp;
    expect(pollerDone).toBe(true);
    expect(sent).toHaveLength(1);
    sent[0]?.answer(doubled([1]));
    await later(5);
    expect(sent).toHaveLength(1);
    expect(calls.activeKeys).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("fails a joiner whose batch was sent but never answered within the deadline", async () => {
    const calls = batcher(8, 1_000);
    const { sent, io } = recorder();
    const [opener, joiner] = behindOne(calls, io, [2, 3]);
    sent[0]?.answer(doubled([1]));
    await later();
    expect(sent.map((s) => s.items)).toEqual([[1], [2, 3]]);
    const failed = Promise.all([
      expect(opener).rejects.toThrow("no answer from the batch within 1000 ms"),
      expect(joiner).rejects.toThrow("no answer from the batch within 1000 ms"),
    ]);
    await later(1_000);
    await failed;
  });

  it("fails only the call whose item failed; the rest of its batch get their answers", async () => {
    const calls = batcher();
    const { sent, io } = recorder();
    const [two, three] = behindOne(calls, io, [2, 3]);
    sent[0]?.answer(doubled([1]));
    await later();
    const boom = new Error("item 3 broke");
    sent[1]?.answer([
      { ok: true, value: "4" },
      { ok: false, error: boom },
    ]);
    await expect(two).resolves.toBe("4");
    await expect(three).rejects.toBe(boom);
  });

  it("fails every call of a batch whose round trip failed, and still sends the next batch", async () => {
    const calls = batcher();
    const { sent, io } = recorder();
    const [one, two] = [1, 2].map((n) => calls.call("a", n, io()));
    const down = new Error("ledger unavailable");
    sent[0]?.fail(down);
    await expect(one).rejects.toBe(down);
    await later();
    expect(sent.map((s) => s.items)).toEqual([[1], [2]]);
    sent[1]?.answer(doubled([2]));
    await expect(two).resolves.toBe("4");
    expect(calls.activeKeys).toBe(0);
  });

  it("refuses a round trip that answers a different number of items than it was sent: nobody gets another's answer", async () => {
    const calls = batcher();
    const { sent, io } = recorder();
    const [two, three] = behindOne(calls, io, [2, 3]);
    sent[0]?.answer(doubled([1]));
    await later();
    sent[1]?.answer(doubled([2]));
    await expect(two).rejects.toThrow("a batch of 2 got 1 answers");
    await expect(three).rejects.toThrow("a batch of 2 got 1 answers");
  });

  it("settles a sender's keep-alive promise once its round trip has settled, without rejecting", async () => {
    const calls = batcher();
    const { sent, kept, io } = recorder();
    const first = calls.call("a", 1, io());
    let settled = false;
    void kept[0]?.then(() => {
      settled = true;
    });
    await later();
    expect(settled).toBe(false);
    sent[0]?.fail(new Error("down"));
    await expect(first).rejects.toThrow("down");
    await later();
    expect(settled).toBe(true);
  });

  it("refuses limits that would never send or never wait", () => {
    expect(() => new KeyedBatcher({ maxBatch: 0, deadlineMs: 5_000 })).toThrow(TypeError);
    expect(() => new KeyedBatcher({ maxBatch: 8, deadlineMs: 0 })).toThrow(TypeError);
  });
});
