/**
 * An agent writes text an approver reads: the intent, the context and the CIBA binding message (issue 11, item 7).
 * Bidi overrides and zero-width characters (Trojan Source, CVE-2021-42574) can make that text read as something it
 * is not, or make two codes that look alike differ. The mail already stripped them; the page did not, and an
 * identical request with another binding message was silently merged into the first, so the approver compared the
 * agent's screen with a message the agent never showed.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openApproval, pagePath } from "../support/approval-fixture.ts";
import { sentMails, startApproval } from "../support/ciba.ts";
import { formOf, textOf } from "../support/html.ts";
import { withRequestLog } from "../support/logs.ts";
import { brokerGet, brokerPostForm } from "../support/requests.ts";
import { ledgerJtis } from "../support/token-endpoint.ts";

/** Bidi override and its end, zero-width joiner and space, bidi isolate and its end, byte order mark: all `\p{Cf}`. */
const [RLO, PDF, ZWJ, ZWSP, LRI, PDI, BOM] = ["\u202E", "\u202C", "\u200D", "\u200B", "\u2066", "\u2069", "\uFEFF"] as const;
const FORMAT_CHARACTER = /\p{Cf}/u;

type Started = { auth_req_id: string; expires_in: number; interval: number };

const REFUND_SCOPE = "billing.invoices.refund";
const uniqueIntent = (label: string) => `refund invoice INV-${crypto.randomUUID().slice(0, 8)} (${label})`;

async function start(params: Record<string, string>): Promise<Started> {
  const res = await startApproval("billing-agent", { scope: REFUND_SCOPE, ...params });
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json<Started>();
}

const approvalIdOf = (started: Started) => started.auth_req_id.split(".")[0] ?? "";

/** The approval page behind one approver's emailed link, as their browser opens it. */
async function pageOf(approvalId: string, approver = "dana@example.com"): Promise<{ html: string; path: string }> {
  const mail = (await sentMails(approvalId)).find((m) => m.to === approver);
  const url = new URL(mail?.link ?? "");
  const path = `${url.pathname}${url.search}`;
  const res = await brokerGet(path);
  expect(res.status).toBe(200);
  return { html: await res.text(), path };
}

/** Ends a request through its page, so the agent's open-request cap (5) never fills across this file. */
async function denyThroughPage(approvalId: string): Promise<void> {
  const { html } = await pageOf(approvalId);
  expect((await brokerPostForm(`/approvals/${approvalId}`, await formOf(html, "deny-form"))).status).toBe(200);
}

describe("bidi and zero-width characters in what the agent writes", () => {
  it("shows intent and context on the approval page as the mail shows them: without bidi or zero-width characters", async () => {
    const id = crypto.randomUUID().slice(0, 8);
    // Rendered, the override reverses "00001 stnec" so that the approver reads "cents 10000".
    const intent = `refund INV-${id} ${RLO}00001 stnec${PDF} (dup${ZWJ}licate charge)`;
    const cleanIntent = `refund INV-${id} 00001 stnec (duplicate charge)`;
    const context = { ticket: `SUP${ZWSP}-12${LRI}34${PDI}`, [`no${BOM}te`]: `ok${ZWJ}` };
    const started = await start({ intent, context: JSON.stringify(context) });
    const approvalId = approvalIdOf(started);

    const { html } = await pageOf(approvalId);
    expect(await textOf(html, "#intent")).toBe(cleanIntent);
    expect(await textOf(html, "#context")).toBe("ticket = SUP-1234 note = ok");
    expect(html).not.toMatch(FORMAT_CHARACTER);

    const mails = await sentMails(approvalId);
    expect(mails).toHaveLength(3);
    for (const mail of mails) {
      expect(mail.text).toContain(`Intent:           ${cleanIntent}\n`);
      expect(mail.text).toContain("Context:          ticket = SUP-1234, note = ok\n");
      for (const part of [mail.text, mail.html, mail.subject]) expect(part).not.toMatch(FORMAT_CHARACTER);
    }
    await denyThroughPage(approvalId);
  });

  it("shows a stored binding message on the page without them", async () => {
    // A request opened before /bc-authorize refused such messages still shows the code the approver must match.
    const opened = await openApproval({ meta: { bindingMessage: `BLUE${ZWJ}-42${RLO}${PDF}` } });
    const res = await brokerGet(pagePath(opened, "ann@example.com"));
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(await textOf(html, "#binding-message")).toBe("Code shown by the agent: BLUE-42. Approve only if it matches.");
    expect(html).not.toMatch(FORMAT_CHARACTER);
  });
});

describe("binding_message at /bc-authorize", () => {
  it.each([
    ["a right-to-left override", `BLUE-42${RLO}`],
    ["a zero-width joiner", `BLUE${ZWJ}-42`],
    ["a zero-width space", `${ZWSP}BLUE-42`],
    ["a byte order mark", `BLUE-42${BOM}`],
    ["a line separator", "BLUE-42\u2028GREEN-7"],
  ])("refuses a binding_message with %s as invalid_request naming the parameter, opening no request", async (_name, message) => {
    const intent = uniqueIntent("binding message");
    const before = await approvalState();
    const { result, lines } = await withRequestLog(async () => {
      const res = await startApproval("billing-agent", { scope: REFUND_SCOPE, intent, binding_message: message });
      return { status: res.status, headers: res.headers, body: await res.json<Record<string, unknown>>() };
    });
    expect(result.status).toBe(400);
    expect(result.body).toEqual({ error: "invalid_request", error_description: 'parameter "binding_message" is invalid' });
    expect(result.headers.get("cache-control")).toBe("no-store");
    expect(result.headers.get("x-request-id")).toEqual(expect.any(String));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 400, decision: "denied", reason: "invalid_parameter" });
    // Refused before the agent was even authenticated: no mail, no reservation, no request object, no assertion spent.
    expect(await approvalState()).toEqual(before);
  });
});

describe("identical requests and their binding message (OpenID CIBA §7.1)", () => {
  it("merges a repeated request with the same binding message into the first auth_req_id, mailing nobody again", async () => {
    const params = { intent: uniqueIntent("same message"), binding_message: "BLUE-42" };
    const first = await start(params);
    const second = await start(params);
    expect(second.auth_req_id).toBe(first.auth_req_id);
    expect(await sentMails(approvalIdOf(first))).toHaveLength(3);
    await denyThroughPage(approvalIdOf(first));
  });

  it("opens a new request, mailed and shown with its own message, when only the binding message differs", async () => {
    const intent = uniqueIntent("other message");
    const plain = await start({ intent });
    const blue = await start({ intent, binding_message: "BLUE-42" });
    const green = await start({ intent, binding_message: "GREEN-7" });
    expect(new Set([plain, blue, green].map((s) => s.auth_req_id)).size).toBe(3);
    for (const [started, message] of [
      [blue, "BLUE-42"],
      [green, "GREEN-7"],
    ] as const) {
      const mails = await sentMails(approvalIdOf(started));
      expect(mails.map((m) => m.to).sort()).toEqual(["dana@example.com", "erin@example.com", "frank@example.com"]);
      for (const mail of mails) expect(mail.text).toContain(`Binding message:  ${message}\n`);
      const { html } = await pageOf(approvalIdOf(started));
      expect(await textOf(html, "#binding-message")).toBe(`Code shown by the agent: ${message}. Approve only if it matches.`);
    }
    expect(await textOf((await pageOf(approvalIdOf(plain))).html, "#binding-message")).toBeUndefined();
    for (const started of [plain, blue, green]) await denyThroughPage(approvalIdOf(started));
  });
});

/** Everything /bc-authorize could have changed: the latest mail, the agent's open requests and spent assertions, request objects. */
async function approvalState() {
  const latest = await brokerGet("/dev/outbox.json", { limit: "1" });
  const ledger = env.AGENT_LEDGER.getByName("billing-agent");
  return {
    latestMail: (await latest.json<{ mails: { approvalId: string; to: string }[] }>()).mails[0],
    openApprovals: (await ledger.summary([], Date.now())).openApprovals,
    spentAssertions: await ledgerJtis("billing-agent"),
    approvalObjects: (await listDurableObjectIds(env.APPROVAL_REQUEST)).length,
  };
}
