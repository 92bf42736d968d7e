import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type MimeMessageInput, mimeMessage, rfc5322Date } from "../../lib/mime.ts";

/**
 * A strict reader of what lib/mime.ts writes, written from the RFCs rather than from the builder: it refuses
 * anything a lenient mail client would quietly accept (bare LF, long lines, over-long or split encoded-words,
 * malformed base64 or quoted-printable, a boundary inside a body), so each test asserts the standard, not only a
 * round trip.
 */
type Parsed = {
  headers: Map<string, string>;
  /** Raw (folded) header fields, for line checks. */
  headerLines: string[];
  parts: { contentType: string; encoding: string; text: string }[];
};

const BASE = {
  from: { address: "writ@writ.example.com", name: "Writ approvals" },
  to: { address: "alice@example.com" },
  subject: "Approve? Support bot → crm.customers.export",
  date: Date.UTC(2027, 0, 15, 9, 30, 0),
  text: "Line one\nLine two é\n",
} satisfies MimeMessageInput;

function parse(raw: string): Parsed {
  // RFC 5322 §2.1, §2.1.1: CRLF only, no line over 998 characters.
  expect(raw.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/);
  for (const line of raw.split("\r\n")) expect(line.length).toBeLessThanOrEqual(998);
  const end = raw.indexOf("\r\n\r\n");
  expect(end).toBeGreaterThan(0);
  const headerLines = raw.slice(0, end).split("\r\n");
  const headers = readHeaders(headerLines);
  expect(headers.get("mime-version")).toBe("1.0");
  const body = raw.slice(end + 4);
  const type = headers.get("content-type") ?? "";
  if (!type.startsWith("multipart/")) return { headers, headerLines, parts: [readPart(headers, body)] };

  const boundary = /^multipart\/alternative; boundary=([0-9A-Za-z'()+_,./:=?-]{1,70})$/.exec(type)?.[1];
  expect(boundary).toBeDefined();
  // RFC 2046 §5.1.1: parts between "--boundary" lines, the last closed by "--boundary--".
  expect(body.startsWith(`--${boundary}\r\n`)).toBe(true);
  const chunks = `\r\n${body}`.split(`\r\n--${boundary}`);
  expect(chunks[0]).toBe("");
  expect(chunks.at(-1)).toBe("--\r\n");
  const parts = chunks.slice(1, -1).map((chunk) => {
    expect(chunk.startsWith("\r\n")).toBe(true);
    const partEnd = chunk.indexOf("\r\n\r\n");
    return readPart(readHeaders(chunk.slice(2, partEnd).split("\r\n")), chunk.slice(partEnd + 4));
  });
  return { headers, headerLines, parts };
}

/** Unfolds (RFC 5322 §2.2.3) and decodes RFC 2047 encoded-words, checking each. Field names lower-cased. */
function readHeaders(lines: string[]): Map<string, string> {
  const fields: string[] = [];
  for (const line of lines) {
    expect(line.length).toBeLessThanOrEqual(78);
    if (/^[ \t]/.test(line)) {
      expect(fields.length).toBeGreaterThan(0);
      fields[fields.length - 1] += line;
    } else {
      expect(line).toMatch(/^[!-9;-~]+: /);
      fields.push(line);
    }
  }
  const headers = new Map<string, string>();
  for (const field of fields) {
    const colon = field.indexOf(":");
    const name = field.slice(0, colon).toLowerCase();
    expect(headers.has(name)).toBe(false);
    headers.set(name, decodeWords(field.slice(colon + 2)));
  }
  return headers;
}

function decodeWords(value: string): string {
  for (const word of value.match(/=\?[^?]*\?[^?]*\?[^?]*\?=/g) ?? []) {
    expect(word.length).toBeLessThanOrEqual(75);
    expect(word).toMatch(/^=\?UTF-8\?B\?[A-Za-z0-9+/]*={0,2}\?=$/);
  }
  return value
    .replace(/(\?=)[ \t]+(?==\?)/g, "$1")
    .replace(/=\?UTF-8\?B\?([^?]*)\?=/g, (_, b64: string) =>
      new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(fromBase64(b64)),
    );
}

function readPart(headers: Map<string, string>, body: string): Parsed["parts"][number] {
  const contentType = headers.get("content-type") ?? "";
  expect(contentType).toMatch(/^text\/(plain|html); charset=utf-8$/);
  const encoding = headers.get("content-transfer-encoding") ?? "";
  const lines = body.split("\r\n");
  for (const line of lines) expect(line.length).toBeLessThanOrEqual(76);
  let bytes: Uint8Array;
  if (encoding === "base64") {
    for (const line of lines) expect(line).toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
    bytes = fromBase64(lines.join(""));
  } else {
    expect(encoding).toBe("quoted-printable");
    bytes = fromQuotedPrintable(lines);
  }
  return {
    contentType: contentType.split(";")[0] as string,
    encoding,
    text: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes),
  };
}

/** RFC 2045 §6.7, strictly: only printable ASCII, "=XX" in upper-case hex, soft breaks, no trailing white space. */
function fromQuotedPrintable(lines: string[]): Uint8Array {
  const out: number[] = [];
  lines.forEach((line, i) => {
    expect(line).toMatch(/^(?:[!-<>-~ \t]|=[0-9A-F]{2})*=?$/);
    expect(line).not.toMatch(/[ \t]=?$/);
    expect(line).not.toMatch(/^\./);
    // An escape is "=" and two hex digits, so a line ending in "=" ends in a soft break.
    const soft = line.endsWith("=");
    const content = soft ? line.slice(0, -1) : line;
    for (let j = 0; j < content.length; j++) {
      if (content[j] === "=") {
        out.push(Number.parseInt(content.slice(j + 1, j + 3), 16));
        j += 2;
      } else out.push(content.charCodeAt(j));
    }
    if (!soft && i < lines.length - 1) out.push(0x0d, 0x0a);
  });
  return Uint8Array.from(out);
}

function fromBase64(b64: string): Uint8Array {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

const canonical = (text: string) => text.replace(/\r\n|\r|\n/g, "\r\n");

describe("mimeMessage", () => {
  it("writes the RFC 5322 fields: From with the name, To, Subject, Date (numeric zone), Message-ID at the sender's domain", () => {
    const { headers } = parse(mimeMessage(BASE));
    expect(headers.get("from")).toBe("Writ approvals <writ@writ.example.com>");
    expect(headers.get("to")).toBe("<alice@example.com>");
    expect(headers.get("subject")).toBe(BASE.subject);
    expect(headers.get("date")).toBe("Fri, 15 Jan 2027 09:30:00 +0000");
    expect(headers.get("message-id")).toMatch(/^<[0-9a-f-]{36}@writ\.example\.com>$/);
  });

  it("gives every message its own Message-ID", () => {
    const ids = new Set([1, 2, 3].map(() => parse(mimeMessage(BASE)).headers.get("message-id")));
    expect(ids.size).toBe(3);
  });

  it("writes one text part, or text then HTML in multipart/alternative, each decoding to the canonical (CRLF) text", () => {
    const single = parse(mimeMessage(BASE));
    expect(single.parts).toEqual([{ contentType: "text/plain", encoding: "base64", text: canonical(BASE.text) }]);
    const html = "<!doctype html>\n<p>é → ok</p>\n";
    for (const encoding of ["base64", "quoted-printable"] as const) {
      const both = parse(mimeMessage({ ...BASE, html, encoding }));
      expect(both.parts).toEqual([
        { contentType: "text/plain", encoding, text: canonical(BASE.text) },
        { contentType: "text/html", encoding, text: canonical(html) },
      ]);
    }
  });

  it("leaves a printable ASCII subject readable, and folds a long or non-ASCII one into encoded-words of whole characters", () => {
    expect(parse(mimeMessage({ ...BASE, subject: "Plain subject" })).headerLines).toContain("Subject: Plain subject");
    const long = `${"é".repeat(40)}${"😀".repeat(30)}${"a".repeat(100)}`;
    const { headers, headerLines } = parse(mimeMessage({ ...BASE, subject: long }));
    expect(headers.get("subject")).toBe(long);
    expect(headerLines.filter((l) => l.startsWith(" =?UTF-8?B?")).length).toBeGreaterThan(3);
  });

  it("hides CR and LF of a subject inside an encoded-word, so no header can be injected", () => {
    const subject = "Hi\r\nBcc: thief@evil.example";
    const { headers, headerLines } = parse(mimeMessage({ ...BASE, subject }));
    expect(headers.get("subject")).toBe(subject);
    expect(headers.has("bcc")).toBe(false);
    expect(headerLines.some((l) => /bcc/i.test(l))).toBe(false);
  });

  it("quotes a display name with specials and encodes a non-ASCII one", () => {
    expect(parse(mimeMessage({ ...BASE, from: { ...BASE.from, name: 'Writ, "the" broker' } })).headers.get("from")).toBe(
      '"Writ, \\"the\\" broker" <writ@writ.example.com>',
    );
    const { headers, headerLines } = parse(mimeMessage({ ...BASE, to: { address: "a@example.com", name: "Zoë Müller" } }));
    expect(headers.get("to")).toBe("Zoë Müller <a@example.com>");
    expect(headerLines.find((l) => l.startsWith("To: "))).toMatch(/^To: =\?UTF-8\?B\?/);
  });

  it("writes quoted-printable that no transport rewrites: long lines softly broken, trailing space, '.', 'From ' and '=' encoded", () => {
    const text = `${"x".repeat(300)}\n.hidden\nFrom me\nend with space \ttab\t\n1 = 1\n${"é".repeat(100)}`;
    const { parts } = parse(mimeMessage({ ...BASE, text, encoding: "quoted-printable" }));
    expect(parts[0]?.text).toBe(canonical(text));
  });

  it("refuses a header that would carry a line break, a malformed address and a non-field header name", () => {
    expect(() => mimeMessage({ ...BASE, from: { address: "writ@writ.example.com\r\nBcc: x@evil.example" } })).toThrow(TypeError);
    expect(() => mimeMessage({ ...BASE, to: { address: "Alice <alice@example.com>" } })).toThrow(TypeError);
    expect(() => mimeMessage({ ...BASE, to: { address: "alice@example.com\u0000" } })).toThrow(TypeError);
    expect(() => mimeMessage({ ...BASE, headers: { "X-Bad": "a\r\nBcc: x@evil.example" } })).toThrow(TypeError);
    expect(() => mimeMessage({ ...BASE, headers: { "X Bad": "a" } })).toThrow(TypeError);
  });

  it("round-trips any subject, name and bodies, in both encodings, within every line limit", () => {
    const wellFormed = fc.oneof(
      fc.string({ unit: "binary", maxLength: 400 }).filter((s) => !/\p{Cs}/u.test(s)),
      fc.string({ maxLength: 400 }),
      fc.stringMatching(/^[ -~\r\n.=]{0,300}$/),
    );
    fc.assert(
      fc.property(
        wellFormed,
        wellFormed,
        wellFormed,
        wellFormed,
        fc.constantFrom("base64", "quoted-printable"),
        (subject, name, text, html, encoding: "base64" | "quoted-printable") => {
          const { headers, parts } = parse(mimeMessage({ ...BASE, subject, to: { address: "a@example.com", name }, text, html, encoding }));
          expect(headers.get("subject")).toBe(subject);
          if (name !== "") expect(headers.get("to")).toMatch(/ <a@example\.com>$/);
          expect(parts.map((p) => p.text)).toEqual([canonical(text), canonical(html)]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("dates in RFC 5322 syntax", () => {
    expect(rfc5322Date(Date.UTC(2026, 10, 27, 1, 2, 3))).toBe("Fri, 27 Nov 2026 01:02:03 +0000");
  });
});
