import { describe, expect, it } from "vitest";
import { multiLine, oneLine } from "../../lib/text.ts";

describe("untrusted text shown to people", () => {
  it("drops bidi overrides, isolates and zero-width characters (Trojan Source, CVE-2021-42574)", () => {
    expect(oneLine("refund \u202Ecod.exe\u202C")).toBe("refund cod.exe");
    expect(oneLine("\u2066pay\u2069 \u200Bbob\u200D\uFEFF")).toBe("pay bob");
  });

  it("keeps a value on one line: control characters and line ends become one space", () => {
    expect(oneLine("ticket\r\nBcc: evil@example.com")).toBe("ticket Bcc: evil@example.com");
    expect(oneLine("a\u0000\u0007b\u2028c")).toBe("a b c");
  });

  it("keeps line breaks in multi-line text, as \\n whatever the kind", () => {
    expect(multiLine("first\r\nsecond\rthird\u2028fourth")).toBe("first\nsecond\nthird\nfourth");
    expect(multiLine("tab\there\u202E\u0000x")).toBe("tab here x");
  });

  it("leaves ordinary text, accents and emoji alone", () => {
    expect(oneLine("Zoë's refund — 10 € 👍")).toBe("Zoë's refund — 10 € 👍");
  });
});
