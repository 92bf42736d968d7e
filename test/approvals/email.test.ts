import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEV_OUTBOX_NAME } from "../../durable-objects/dev-outbox.ts";
import { composeApprovalEmail, sendApprovalEmail } from "../../worker/approvals/approval-email.ts";
import { composeQuarantineEmail } from "../../worker/approvals/quarantine-email.ts";
import type { WritEnv } from "../../worker/env.ts";
import { decodedSubject, emailInput, FROM, headerBlock, part, parts, REQUESTED_AT } from "../support/approval-email.ts";

const HOSTILE_INTENT = `<script>alert(1)</script>"><img src=x onerror=alert(2)>`;
const outbox = () => env.DEV_OUTBOX_STORE.getByName(DEV_OUTBOX_NAME);

describe("composeApprovalEmail", () => {
  it("names the agent and the use case in the subject", () => {
    const mail = composeApprovalEmail(emailInput());
    expect(mail.subject).toBe("Approve? Support bot → crm.customers.export");
    expect(decodedSubject(mail.raw)).toBe(mail.subject);
  });

  it("builds a multipart/alternative message with a plain-text and an HTML part, both base64 UTF-8 in canonical (CRLF) form", () => {
    const mail = composeApprovalEmail(emailInput());
    const found = parts(mail.raw);
    expect(found.map((p) => /Content-Type: ([^;]+)/.exec(p.headers)?.[1])).toEqual(["text/plain", "text/html"]);
    expect(found.every((p) => p.headers.includes("Content-Transfer-Encoding: base64"))).toBe(true);
    expect(found.every((p) => p.headers.includes("charset=utf-8"))).toBe(true);
    expect(part(mail.raw, "text/plain").body).toBe(mail.text.replace(/\n/g, "\r\n"));
    expect(part(mail.raw, "text/html").body).toBe(mail.html.replace(/\n/g, "\r\n"));
  });

  it("dates the message when the request was made and declares MIME 1.0", () => {
    const headers = headerBlock(composeApprovalEmail(emailInput()).raw);
    expect(headers).toContain("Date: Fri, 15 Jan 2027 09:30:00 +0000");
    expect(headers).toContain("MIME-Version: 1.0");
  });

  it("folds a long non-ASCII subject into encoded-words of at most 75 characters, header lines within 78", () => {
    const mail = composeApprovalEmail(emailInput({ agentName: "Агент поддержки ✓ ".repeat(8) }));
    expect(decodedSubject(mail.raw)).toBe(mail.subject);
    for (const word of headerBlock(mail.raw).match(/=\?[^?]+\?B\?[^?]*\?=/g) ?? []) expect(word.length).toBeLessThanOrEqual(75);
    for (const line of headerBlock(mail.raw).split("\r\n")) expect(line.length).toBeLessThanOrEqual(78);
  });

  it("addresses the approver from the configured sender and marks the mail as automated", () => {
    const input = emailInput();
    const headers = headerBlock(composeApprovalEmail(input).raw);
    expect(headers).toMatch(new RegExp(`^From: .*<${FROM}>$`, "m"));
    expect(headers).toContain(`To: <${input.to}>`);
    expect(headers).toMatch(/^Message-ID: <[^>]+@writ\.example\.com>$/m);
    expect(headers).toContain("Auto-Submitted: auto-generated");
  });

  it("shows everything needed to judge the request in both parts", () => {
    const mail = composeApprovalEmail(emailInput());
    for (const body of [mail.text, mail.html]) {
      for (const expected of [
        "Support bot",
        "owner@example.com",
        "crm.customers.export",
        "Export customer records as CSV",
        "https://crm.example.com",
        "read, export",
        "https://crm.example.com/customers",
        "max_rows = 500",
        "Export the customers of ticket T-123 for the refund audit",
        "ticket = T-123",
        "5 minutes",
        "BLUE-42",
        "2 of 3 approvers",
      ])
        expect(body).toContain(expected);
    }
  });

  it("shows the expiry as an absolute UTC time, with the request time", () => {
    const mail = composeApprovalEmail(emailInput());
    for (const body of [mail.text, mail.html]) {
      expect(body).toContain("2027-01-15 09:45:00 UTC (15 minutes after the request)");
      expect(body).toContain("2027-01-15 09:30:00 UTC");
    }
  });

  it("carries the link in both parts, escaped inside the HTML attribute", () => {
    const input = emailInput();
    const mail = composeApprovalEmail({ ...input, link: `${input.link}&x=1` });
    expect(mail.text).toContain(`\n${input.link}&x=1\n`);
    expect(mail.html).toContain(`href="${input.link}&#38;x=1"`);
    expect(mail.link).toBe(`${input.link}&x=1`);
  });

  it("tells the approver that opening the link changes nothing and the decision happens on the page", () => {
    const mail = composeApprovalEmail(emailInput());
    for (const body of [mail.text, mail.html]) {
      expect(body).toContain("Opening the link changes nothing: you approve or deny on the page");
      expect(body).toContain("do not forward it");
    }
  });

  it("labels intent, context and binding message as written by the agent", () => {
    const { text } = composeApprovalEmail(emailInput());
    const unverified = text.indexOf("Written by the agent, not checked by Writ:");
    expect(unverified).toBeGreaterThan(text.indexOf("Approvals needed:"));
    for (const label of ["Intent:", "Context:", "Binding message:"]) expect(text.indexOf(label)).toBeGreaterThan(unverified);
  });

  it("escapes a hostile intent, context and binding message in the HTML part", () => {
    const input = emailInput();
    const mail = composeApprovalEmail({
      ...input,
      bindingMessage: `"><a href="https://evil.example">win</a>`,
      grant: { ...input.grant, intent: HOSTILE_INTENT, context: { "<b onmouseover=x>": `'><svg onload=alert(3)>` } },
    });
    expect(mail.html).not.toMatch(/<script|<img|<svg|<b |<a href="https:\/\/evil/i);
    expect(mail.html).toContain("&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#62;&#60;img src=x onerror=alert(2)&#62;");
    expect(mail.html).toContain("&#60;b onmouseover=x&#62; = &#39;&#62;&#60;svg onload=alert(3)&#62;");
    expect(mail.html.match(/<a /g)).toHaveLength(1);
    // The text part is plain text: it shows what the agent wrote, verbatim.
    expect(mail.text).toContain(HOSTILE_INTENT);
  });

  it("strips CR, LF and other control characters from the subject, so no header can be injected", () => {
    const mail = composeApprovalEmail(emailInput({ agentName: "Support bot\r\nBcc: thief@evil.example\u0000\u0007" }));
    expect(mail.subject).toBe("Approve? Support bot Bcc: thief@evil.example → crm.customers.export");
    expect(mail.subject).not.toMatch(/\p{Cc}/u);
    expect(headerBlock(mail.raw)).not.toMatch(/^Bcc:/im);
    expect(decodedSubject(mail.raw)).toBe(mail.subject);
  });

  it("removes bidi overrides and zero-width characters from agent-written text", () => {
    const input = emailInput();
    const mail = composeApprovalEmail({ ...input, grant: { ...input.grant, intent: "pay \u202Eevil\u202C to\u200B Bob\u2066" } });
    for (const body of [mail.text, mail.html]) {
      expect(body).toContain("pay evil to Bob");
      expect(body).not.toMatch(/[\u202A-\u202E\u2066-\u2069\u200B]/);
    }
  });

  it("indents every line of a multi-line intent, so it cannot pass for the mail's own text", () => {
    const input = emailInput();
    const intent = "first line\r\nhttps://evil.example/approve\rthird\u2028fourth";
    const { text } = composeApprovalEmail({ ...input, grant: { ...input.grant, intent } });
    expect(text).toContain(`Intent:           first line\n${" ".repeat(18)}https://evil.example/approve\n${" ".repeat(18)}third\n`);
    expect(text).not.toMatch(/^https:\/\/evil/m);
    expect(text).not.toContain("\r");
  });

  it("cuts very long agent-written text, which the page shows whole", () => {
    const input = emailInput();
    const { text } = composeApprovalEmail({ ...input, grant: { ...input.grant, intent: "x".repeat(5000) } });
    expect(text).toContain(`${"x".repeat(999)}…`);
    expect(text).not.toContain("x".repeat(1000));
  });

  it("writes CRLF line ends and no line longer than RFC 5322's 998 characters", () => {
    const input = emailInput();
    const { raw } = composeApprovalEmail({
      ...input,
      agentName: "a".repeat(500),
      grant: { ...input.grant, intent: "é".repeat(3000), useCaseId: "u".repeat(300) },
    });
    expect(raw.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/);
    expect(Math.max(...raw.split("\r\n").map((l) => l.length))).toBeLessThanOrEqual(998);
  });

  it("treats a link that is not http(s), or an address with control characters, as caller misuse", () => {
    expect(() => composeApprovalEmail(emailInput({ link: "javascript:alert(1)" }))).toThrow(TypeError);
    expect(() => composeApprovalEmail(emailInput({ to: "alice@example.com\r\nBcc: x@evil.example" }))).toThrow(TypeError);
    expect(() => composeApprovalEmail(emailInput({ from: "Writ <writ@writ.example.com>" }))).toThrow(TypeError);
  });
});

describe("composeQuarantineEmail", () => {
  const notice = {
    from: FROM,
    to: "owner@example.com",
    agentId: "billing-agent",
    agentName: "Billing agent",
    kid: "billing-agent-1",
    cancelled: 2,
    issuer: `https://writ.example.com/${"long-path/".repeat(20)}`,
    requestId: "req-1",
    at: REQUESTED_AT,
  };

  it("is one quoted-printable UTF-8 text part, no line over 76 characters, that decodes to the notice", () => {
    const mail = composeQuarantineEmail(notice);
    const end = mail.raw.indexOf("\r\n\r\n");
    const headers = mail.raw.slice(0, end);
    expect(headers).toContain("Content-Type: text/plain; charset=utf-8");
    expect(headers).toContain("Content-Transfer-Encoding: quoted-printable");
    expect(headers).toContain("Auto-Submitted: auto-generated");
    expect(headers).toContain("Date: Fri, 15 Jan 2027 09:30:00 +0000");
    expect(decodedSubject(mail.raw)).toBe(mail.subject);
    const body = mail.raw.slice(end + 4);
    for (const line of body.split("\r\n")) expect(line.length).toBeLessThanOrEqual(76);
    const decoded = body.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex: string) => `%${hex}`);
    expect(decodeURIComponent(decoded.replace(/%(?![0-9A-F]{2})/g, "%25"))).toBe(mail.text.replace(/\n/g, "\r\n"));
  });
});

describe("sendApprovalEmail", () => {
  afterEach(() => vi.restoreAllMocks());

  it("sends through the send_email binding and keeps a copy in the dev outbox", async () => {
    const input = emailInput();
    const mail = composeApprovalEmail(input);
    // The local send_email binding parses the message (postal-mime) and checks its From against the envelope.
    const sent = await sendApprovalEmail(env, mail, input.requestedAt + 5);
    expect(sent).toEqual({ ok: true, messageId: expect.stringMatching(/^<.+@writ\.example\.com>$/) });
    expect(await outbox().latestFor(input.to, input.approvalId)).toEqual({
      id: expect.any(Number),
      to: input.to,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      link: input.link,
      approvalId: input.approvalId,
      sentAt: input.requestedAt + 5,
    });
  });

  it('keeps no copy when DEV_OUTBOX is not "true", as in production', async () => {
    const input = emailInput();
    for (const DEV_OUTBOX of [undefined, "false"]) {
      const sent = await sendApprovalEmail({ ...env, DEV_OUTBOX } as WritEnv, composeApprovalEmail(input));
      expect(sent.ok).toBe(true);
    }
    expect(await outbox().latestFor(input.to)).toBeNull();
  });

  it("returns a refused send as a value instead of throwing, and keeps no copy of the unsent mail", async () => {
    const input = emailInput();
    const refusing: SendEmail = { send: () => Promise.reject(new Error(`email to ${input.to} not allowed`)) };
    const sent = await sendApprovalEmail({ ...env, APPROVAL_MAIL: refusing }, composeApprovalEmail(input));
    expect(sent).toEqual({ ok: false, error: `Error: email to ${input.to} not allowed` });
    expect(await outbox().latestFor(input.to)).toBeNull();
  });

  it("keeps the link token out of a refusal that quotes the link", async () => {
    const input = emailInput();
    const leaky: SendEmail = { send: () => Promise.reject(new TypeError(`cannot deliver ${input.link}`)) };
    const sent = await sendApprovalEmail({ ...env, APPROVAL_MAIL: leaky }, composeApprovalEmail(input));
    expect(sent).toEqual({ ok: false, error: "TypeError: cannot deliver [link]" });
  });

  it("logs one JSON line with the approval id and recipient, never the link token", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    const input = emailInput();
    await sendApprovalEmail(env, composeApprovalEmail(input));
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === "approval_email_sent");
    expect(entries).toEqual([expect.objectContaining({ level: "info", approval_id: input.approvalId, to: input.to })]);
    expect(lines.join("\n")).not.toContain(input.token);
  });
});
