import { describe, expect, it } from "vitest";
import { uuidV7 } from "../../lib/ids.ts";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("uuidV7", () => {
  it("is an RFC 9562 version 7 UUID carrying its millisecond time in the first 48 bits", () => {
    const now = Date.UTC(2026, 10, 27, 12, 0, 0, 123);
    const id = uuidV7(now);
    expect(id).toMatch(UUID_V7);
    expect(Number.parseInt(id.replace(/-/g, "").slice(0, 12), 16)).toBe(now);
  });

  it("sorts in time order across milliseconds, whatever its random bits", () => {
    const start = Date.UTC(2026, 0, 1);
    const ids = Array.from({ length: 200 }, (_, i) => uuidV7(start + i * 7));
    expect([...ids].sort()).toEqual(ids);
  });

  it("differs between ids of the same millisecond", () => {
    const now = Date.now();
    const ids = new Set(Array.from({ length: 1000 }, () => uuidV7(now)));
    expect(ids.size).toBe(1000);
  });
});
