import { describe, expect, it } from "vitest";
import { BROKER_SHARD_AGENT, shardOf, shardsBetween } from "../../../core/audit/shards.ts";
import { HOUR_MS } from "../../../lib/time.ts";

const JUNE_1 = Date.UTC(2026, 5, 1);
const JUNE_2 = Date.UTC(2026, 5, 2);

describe("shardOf", () => {
  it("names a shard after the agent and the UTC day of the event", () => {
    expect(shardOf("billing-agent", JUNE_1 + 12 * HOUR_MS)).toBe("billing-agent/2026-06-01");
  });

  it("puts an event without an agent in the broker's own shard", () => {
    expect(BROKER_SHARD_AGENT).toBe("_broker");
    expect(shardOf(undefined, JUNE_1)).toBe("_broker/2026-06-01");
  });

  it("starts the next shard at UTC midnight", () => {
    expect(shardOf("support-bot", JUNE_2 - 1)).toBe("support-bot/2026-06-01");
    expect(shardOf("support-bot", JUNE_2)).toBe("support-bot/2026-06-02");
  });
});

describe("shardsBetween", () => {
  it("lists one shard per agent for a range within one day", () => {
    expect(shardsBetween(["billing-agent", "support-bot"], JUNE_1 + 9 * HOUR_MS, JUNE_1 + 17 * HOUR_MS)).toEqual([
      "billing-agent/2026-06-01",
      "support-bot/2026-06-01",
    ]);
  });

  it("covers both days of a range that crosses midnight, oldest day first", () => {
    expect(shardsBetween(["billing-agent", "_broker"], JUNE_2 - HOUR_MS, JUNE_2 + HOUR_MS)).toEqual([
      "billing-agent/2026-06-01",
      "_broker/2026-06-01",
      "billing-agent/2026-06-02",
      "_broker/2026-06-02",
    ]);
  });

  it("walks every day of a range across a month's end", () => {
    expect(shardsBetween(["support-bot"], Date.UTC(2026, 4, 30, 18), JUNE_1 + HOUR_MS)).toEqual([
      "support-bot/2026-05-30",
      "support-bot/2026-05-31",
      "support-bot/2026-06-01",
    ]);
  });

  it("leaves out the day a range ends on when it ends at that midnight (the end is exclusive)", () => {
    expect(shardsBetween(["support-bot"], JUNE_1 + HOUR_MS, JUNE_2)).toEqual(["support-bot/2026-06-01"]);
  });

  it("lists nothing for no agents", () => {
    expect(shardsBetween([], JUNE_1, JUNE_2)).toEqual([]);
  });
});
