import { describe, expect, it } from "vitest";
import { IntrospectionCache, MAX_INTROSPECTION_CACHE_ENTRIES } from "../../verifier/introspection-cache.ts";

const T0 = 1_700_000_000_000;

describe("IntrospectionCache", () => {
  it("answers until the deadline and forgets the answer at it", () => {
    const cache = new IntrospectionCache();
    cache.set("a", true, T0 + 5000, T0);
    cache.set("b", false, T0 + 5000, T0);
    expect(cache.get("a", T0 + 4999)).toBe(true);
    expect(cache.get("b", T0 + 4999)).toBe(false);
    expect(cache.get("a", T0 + 5000)).toBeUndefined();
    expect(cache.size).toBe(1);
  });

  it("does not store an answer whose deadline has passed (cacheSeconds 0, or a token at its exp)", () => {
    const cache = new IntrospectionCache();
    cache.set("a", true, T0, T0);
    expect(cache.get("a", T0)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("replaces an older answer for the same jti", () => {
    const cache = new IntrospectionCache();
    cache.set("a", true, T0 + 5000, T0);
    cache.set("a", false, T0 + 6000, T0 + 1000);
    expect(cache.get("a", T0 + 5500)).toBe(false);
    expect(cache.size).toBe(1);
  });

  it("holds at most maxEntries answers, evicting the oldest first", () => {
    const cache = new IntrospectionCache(3);
    for (const [i, jti] of ["a", "b", "c", "d"].entries()) cache.set(jti, true, T0 + 5000, T0 + i);
    expect(cache.size).toBe(3);
    expect(cache.get("a", T0 + 10)).toBeUndefined();
    expect(["b", "c", "d"].map((jti) => cache.get(jti, T0 + 10))).toEqual([true, true, true]);
  });

  it("drops stale answers before evicting a live one", () => {
    const cache = new IntrospectionCache(3);
    cache.set("stale", true, T0 + 100, T0);
    cache.set("b", true, T0 + 5000, T0);
    cache.set("c", true, T0 + 5000, T0);
    cache.set("d", true, T0 + 5000, T0 + 200);
    expect(["b", "c", "d"].map((jti) => cache.get(jti, T0 + 300))).toEqual([true, true, true]);
  });

  it("stays bounded under a flood of distinct tokens", () => {
    const cache = new IntrospectionCache();
    for (let i = 0; i < MAX_INTROSPECTION_CACHE_ENTRIES + 500; i++) cache.set(`jti-${i}`, true, T0 + 5000, T0);
    expect(cache.size).toBe(MAX_INTROSPECTION_CACHE_ENTRIES);
    expect(cache.get("jti-0", T0)).toBeUndefined();
    expect(cache.get(`jti-${MAX_INTROSPECTION_CACHE_ENTRIES + 499}`, T0)).toBe(true);
  });

  it.each([0, -1, 1.5])("throws TypeError for maxEntries %d", (maxEntries) => {
    expect(() => new IntrospectionCache(maxEntries)).toThrow(TypeError);
  });
});
