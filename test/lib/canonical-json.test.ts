import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../lib/canonical-json.ts";

describe("canonical JSON", () => {
  it("serialises canonically: sorted keys, no whitespace, undefined members dropped", () => {
    expect(canonicalJson({ b: 1, a: [{ d: true, c: "x" }], u: undefined })).toBe('{"a":[{"c":"x","d":true}],"b":1}');
  });

  it("orders keys by code point, so capitals come before lower case and accented letters last", () => {
    expect(canonicalJson({ b: 1, é: 2, B: 3, a: 4 })).toBe('{"B":3,"a":4,"b":1,"é":2}');
  });

  it("gives one text for equal values built in different orders, at every depth", () => {
    const built = { grant: { limits: { max_rows: 100, mode: "fast" }, actions: ["read"] }, agent: "support-bot" };
    const rebuilt = { agent: "support-bot", grant: { actions: ["read"], limits: { mode: "fast", max_rows: 100 } } };
    expect(canonicalJson(rebuilt)).toBe(canonicalJson(built));
    expect(canonicalJson(built)).toBe('{"agent":"support-bot","grant":{"actions":["read"],"limits":{"max_rows":100,"mode":"fast"}}}');
  });

  it("keeps the order of arrays: a list is a sequence, not a set", () => {
    expect(canonicalJson([3, 1, 2])).toBe("[3,1,2]");
    expect(canonicalJson(["refund", "read"])).not.toBe(canonicalJson(["read", "refund"]));
  });

  it("writes strings, numbers, booleans and null exactly as JSON.stringify does", () => {
    expect(canonicalJson('quote " and \n newline')).toBe('"quote \\" and \\n newline"');
    expect(canonicalJson({ n: 1.5, t: true, z: null, e: -0 })).toBe('{"e":0,"n":1.5,"t":true,"z":null}');
  });
});
