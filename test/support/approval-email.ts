import type { ApprovalEmailInput } from "../../worker/approvals/approval-email.ts";

/** The approval email: a realistic input, and just enough MIME reading to check what was composed. */

/** 2027-01-15 09:30:00 UTC. */
export const REQUESTED_AT = Date.UTC(2027, 0, 15, 9, 30, 0);
export const FROM = "writ@writ.example.com";

/** A unique approval id and link token per call: storage is shared by the tests of a file. */
export function emailInput(overrides: Partial<ApprovalEmailInput> = {}): ApprovalEmailInput & { token: string } {
  const approvalId = `apr_${crypto.randomUUID()}`;
  const token = `tok_${crypto.randomUUID().replaceAll("-", "")}`;
  return {
    from: FROM,
    to: `alice.${crypto.randomUUID().slice(0, 8)}@example.com`,
    link: `http://localhost:8787/approvals/${approvalId}?t=${token}`,
    approvalId,
    grant: {
      agentId: "support-bot",
      useCaseId: "crm.customers.export",
      audience: "https://crm.example.com",
      actions: ["read", "export"],
      locations: ["https://crm.example.com/customers"],
      limits: { max_rows: 500 },
      ttlSeconds: 300,
      intent: "Export the customers of ticket T-123 for the refund audit",
      context: { ticket: "T-123" },
    },
    agentName: "Support bot",
    agentOwner: "owner@example.com",
    useCaseDescription: "Export customer records as CSV",
    bindingMessage: "BLUE-42",
    requestedAt: REQUESTED_AT,
    expiresAt: REQUESTED_AT + 15 * 60 * 1000,
    quorum: 2,
    approverCount: 3,
    token,
    ...overrides,
  };
}

export type MimePart = { headers: string; body: string };

export function headerBlock(raw: string): string {
  const end = raw.indexOf("\r\n\r\n");
  if (end === -1) throw new Error("no end of headers");
  return raw.slice(0, end);
}

/**
 * The Subject, unfolded (RFC 5322 §2.2.3) and its RFC 2047 B-encoded words decoded; white space between two adjacent
 * encoded-words is not part of the text (RFC 2047 §6.2). Each word must hold whole UTF-8 characters (fatal decoding).
 */
export function decodedSubject(raw: string): string {
  const fields = headerBlock(raw).split(/\r\n(?![ \t])/);
  const subject = fields.filter((f) => /^Subject:/i.test(f));
  if (subject.length !== 1) throw new Error(`${subject.length} Subject fields`);
  const value = (subject[0] as string).replace(/^Subject: ?/i, "").replace(/\r\n([ \t])/g, "$1");
  return value
    .replace(/(\?=)[ \t]+(?==\?)/g, "$1")
    .replace(/=\?utf-8\?B\?([^?]*)\?=/gi, (_, b64: string) =>
      new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes(b64)),
    );
}

export function parts(raw: string): MimePart[] {
  const boundary = /Content-Type: multipart\/alternative; boundary=(\S+)/.exec(headerBlock(raw))?.[1];
  if (boundary === undefined) throw new Error("not multipart/alternative");
  return raw
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((chunk) => {
      const [headers = "", encoded = ""] = chunk.replace(/^\r\n/, "").split("\r\n\r\n");
      return { headers, body: /Content-Transfer-Encoding: base64/.test(headers) ? utf8(encoded.replace(/\s+/g, "")) : encoded };
    });
}

export function part(raw: string, type: "text/plain" | "text/html"): MimePart {
  const found = parts(raw).find((p) => p.headers.includes(`Content-Type: ${type}`));
  if (found === undefined) throw new Error(`no ${type} part`);
  return found;
}

function utf8(base64: string): string {
  return new TextDecoder().decode(bytes(base64));
}

function bytes(base64: string): Uint8Array {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}
