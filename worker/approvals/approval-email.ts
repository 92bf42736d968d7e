import { EmailMessage } from "cloudflare:email";
import { DEV_OUTBOX_NAME, type DevOutbox } from "../../durable-objects/dev-outbox.ts";
import { log } from "../../lib/log.ts";
import { mimeMessage } from "../../lib/mime.ts";
import { multiLine, oneLine } from "../../lib/text.ts";
import { utcDateTime } from "../../lib/time.ts";
import type { RequestedGrant } from "../../schemas/approval.ts";
import { readConfig } from "../config.ts";
import type { WritEnv } from "../env.ts";

/** Everything an approver needs to judge a request before opening the page. */
export type ApprovalEmailInput = {
  from: string;
  /** The approver. */
  to: string;
  /** Full URL of the approval page, link token included. */
  link: string;
  approvalId: string;
  grant: RequestedGrant;
  agentName: string;
  agentOwner?: string | undefined;
  useCaseDescription: string;
  bindingMessage?: string | undefined;
  /** Epoch milliseconds. */
  requestedAt: number;
  /** Epoch milliseconds: when the request (not the token) expires. */
  expiresAt: number;
  quorum: number;
  approverCount: number;
};

export type ApprovalEmail = {
  from: string;
  to: string;
  approvalId: string;
  link: string;
  subject: string;
  text: string;
  html: string;
  /** RFC 5322 message (lib/mime.ts), CRLF line ends, both parts base64 so no agent-written line can end a MIME part. */
  raw: string;
};

export type SendApprovalEmailResult = { ok: true; messageId: string } | { ok: false; error: string };

/** Agent-written text is cut here in the mail; the page shows it whole. */
const MAX_FIELD_CHARS = 1000;
/** A Subject an approver can read at a glance (lib/mime.ts folds it into encoded-words of whole characters). */
const MAX_SUBJECT_CHARS = 160;
const SENDER_NAME = "Writ approvals";

/**
 * Builds the approval email for one approver: a plain-text and an HTML part with everything needed to
 * judge the request, and the link. Pure: no I/O, no clock (the Date header is `requestedAt`). Intent, context and binding message are written
 * by the agent, so they are escaped, cleaned as the approval page cleans them (lib/text.ts: no control, bidi or
 * zero-width characters), and labelled as unverified.
 *
 * @example
 * const mail = composeApprovalEmail({ from: env.APPROVAL_FROM, to: "alice@example.com", link, approvalId, grant,
 *   agentName: "support-bot", useCaseDescription: "Export customers", requestedAt: now, expiresAt: now + 900_000,
 *   quorum: 1, approverCount: 2 });
 * await sendApprovalEmail(env, mail);
 */
export function composeApprovalEmail(input: ApprovalEmailInput): ApprovalEmail {
  const link = checkedLink(input.link);
  const from = checkedAddress(input.from, "from");
  const to = checkedAddress(input.to, "to");
  const subject = clip(`Approve? ${oneLine(input.agentName)} → ${oneLine(input.grant.useCaseId)}`, MAX_SUBJECT_CHARS);
  const facts = factsOf(input);
  const text = textPart(input, facts, link);
  const html = htmlPart(input, facts, link, subject);

  const raw = mimeMessage({
    from: { address: from, name: SENDER_NAME },
    to: { address: to },
    subject,
    date: input.requestedAt,
    text,
    html,
    encoding: "base64",
    // RFC 3834 §5: automated mail; out-of-office replies must not answer it.
    headers: { "Auto-Submitted": "auto-generated" },
  });
  return { from, to, approvalId: input.approvalId, link, subject, text, html, raw };
}

/**
 * Sends a composed approval email through the `send_email` binding and, where the dev outbox is enabled,
 * keeps a copy for GET /dev/outbox. A refused send is returned, not thrown: one approver's mail failing
 * must not undo the request; the caller logs and audits it. The link token never reaches a log.
 *
 * @example
 * const sent = await sendApprovalEmail(env, composeApprovalEmail(input));
 * if (!sent.ok) log("warn", "approval_email_failed", { approval_id: input.approvalId, to: input.to, error: sent.error });
 */
export async function sendApprovalEmail(env: WritEnv, mail: ApprovalEmail, now: number = Date.now()): Promise<SendApprovalEmailResult> {
  let messageId: string;
  try {
    ({ messageId } = await env.APPROVAL_MAIL.send(new EmailMessage(mail.from, mail.to, mail.raw)));
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { ok: false, error: reason.split(mail.link).join("[link]") };
  }
  log("info", "approval_email_sent", { approval_id: mail.approvalId, to: mail.to, message_id: messageId });
  // Not caught: an enabled outbox that cannot record is a broken dev setup, and should say so loudly.
  await devOutbox(env)?.record({
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    link: mail.link,
    approvalId: mail.approvalId,
    sentAt: now,
  });
  return { ok: true, messageId };
}

/**
 * The outbox where it is enabled (`npm start` and the tests set DEV_OUTBOX = "true"); undefined in production,
 * which therefore never stores or serves a link token.
 */
export function devOutbox(env: WritEnv): DurableObjectStub<DevOutbox> | undefined {
  return readConfig(env).devOutbox ? env.DEV_OUTBOX_STORE.getByName(DEV_OUTBOX_NAME) : undefined;
}

type Fact = { label: string; value: string; agentWritten?: true; multiLine?: true };

function factsOf(input: ApprovalEmailInput): { request: Fact[]; stated: Fact[] } {
  const { grant } = input;
  const agent = input.agentOwner
    ? `${input.agentName} (${grant.agentId}), owned by ${input.agentOwner}`
    : `${input.agentName} (${grant.agentId})`;
  const request: Fact[] = [
    { label: "Agent", value: agent },
    { label: "Use case", value: `${grant.useCaseId}: ${input.useCaseDescription}` },
    { label: "Service", value: grant.audience },
    { label: "Actions", value: grant.actions.join(", ") },
    { label: "Locations", value: grant.locations.length > 0 ? grant.locations.join(", ") : "any the use case allows" },
    { label: "Limits", value: pairs(grant.limits) || "none" },
    { label: "Token lifetime", value: duration(grant.ttlSeconds) },
    { label: "Approvals needed", value: `${input.quorum} of ${input.approverCount} approvers` },
    { label: "Requested", value: utcDateTime(input.requestedAt) },
    {
      label: "Expires",
      value: `${utcDateTime(input.expiresAt)} (${duration(Math.round((input.expiresAt - input.requestedAt) / 1000))} after the request)`,
    },
  ];
  const stated: Fact[] = [];
  if (input.bindingMessage !== undefined) stated.push({ label: "Binding message", value: input.bindingMessage, agentWritten: true });
  stated.push({ label: "Intent", value: grant.intent ?? "(none given)", agentWritten: true, multiLine: true });
  stated.push({ label: "Context", value: pairs(grant.context) || "(none given)", agentWritten: true });
  return { request, stated };
}

const NOTICE =
  "Opening the link changes nothing: you approve or deny on the page, with its buttons. " +
  "The link is yours alone and carries one decision; do not forward it. If you did not expect this request, deny it.";
const UNVERIFIED = "Written by the agent, not checked by Writ:";

function textPart(input: ApprovalEmailInput, facts: { request: Fact[]; stated: Fact[] }, link: string): string {
  const line = (fact: Fact) => {
    const value = shown(fact);
    return `${`${fact.label}:`.padEnd(18)}${fact.multiLine ? value.replace(/\n/g, `\n${" ".repeat(18)}`) : value}`;
  };
  return [
    `${oneLine(input.agentName)} asks for your approval to use ${oneLine(input.grant.useCaseId)}.`,
    "",
    ...facts.request.map(line),
    "",
    UNVERIFIED,
    ...facts.stated.map(line),
    "",
    `Review and decide before ${utcDateTime(input.expiresAt)}:`,
    link,
    "",
    NOTICE,
    `Request ${oneLine(input.approvalId)}`,
    "",
  ].join("\n");
}

function htmlPart(input: ApprovalEmailInput, facts: { request: Fact[]; stated: Fact[] }, link: string, subject: string): string {
  const row = (fact: Fact) =>
    `<tr><th style="text-align:left;vertical-align:top;padding:4px 12px 4px 0;white-space:nowrap">${escapeHtml(fact.label)}</th>` +
    `<td style="padding:4px 0;white-space:pre-wrap;word-break:break-word">${escapeHtml(shown(fact))}</td></tr>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(subject)}</title></head>
<body style="font-family:system-ui,-apple-system,Segoe UI,sans-serif;font-size:15px;line-height:1.4;color:#111;max-width:640px;margin:0 auto;padding:16px">
<p><strong>${escapeHtml(oneLine(input.agentName))}</strong> asks for your approval to use <strong>${escapeHtml(oneLine(input.grant.useCaseId))}</strong>.</p>
<table role="presentation" style="border-collapse:collapse">${facts.request.map(row).join("")}</table>
<p style="margin:16px 0 4px"><em>${escapeHtml(UNVERIFIED)}</em></p>
<table role="presentation" style="border-collapse:collapse;border-left:3px solid #c60;padding-left:8px">${facts.stated.map(row).join("")}</table>
<p style="margin:20px 0">Review and decide before ${escapeHtml(utcDateTime(input.expiresAt))}:<br>
<a href="${escapeHtml(link)}" style="display:inline-block;margin-top:8px;padding:10px 16px;background:#0b57d0;color:#fff;text-decoration:none;border-radius:6px">Review the request</a></p>
<p style="font-size:13px;color:#444">${escapeHtml(NOTICE)}</p>
<p style="font-size:13px;color:#444">If the button does not work, copy this address: <span style="word-break:break-all">${escapeHtml(link)}</span></p>
<p style="font-size:12px;color:#666">Request ${escapeHtml(oneLine(input.approvalId))}</p>
</body></html>
`;
}

function shown(fact: Fact): string {
  const value = fact.multiLine ? multiLine(fact.value) : oneLine(fact.value);
  return fact.agentWritten ? clip(value, MAX_FIELD_CHARS) : value;
}

function pairs(record: Record<string, string | number | boolean>): string {
  return Object.entries(record)
    .map(([key, value]) => `${key} = ${String(value)}`)
    .join(", ");
}

function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function duration(totalSeconds: number): string {
  const units: [number, string][] = [
    [Math.floor(totalSeconds / 3600), "hour"],
    [Math.floor((totalSeconds % 3600) / 60), "minute"],
    [totalSeconds % 60, "second"],
  ];
  const parts = units.filter(([n]) => n > 0).map(([n, unit]) => `${n} ${unit}${n === 1 ? "" : "s"}`);
  return parts.length > 0 ? parts.join(" ") : "0 seconds";
}

/** The broker builds the link; anything but an http(s) URL is a bug, never something to put in a mail. */
function checkedLink(link: string): string {
  const url = URL.parse(link);
  if (url === null || (url.protocol !== "https:" && url.protocol !== "http:")) throw new TypeError("approval link must be an http(s) URL");
  return url.href;
}

/** Addresses come from the policy and config; a control character or angle bracket there is misconfiguration. */
function checkedAddress(address: string, which: "from" | "to"): string {
  if (!/^[^\s<>"@]+@[^\s<>"@]+$/.test(address) || /\p{Cc}/u.test(address))
    throw new TypeError(`approval email ${which} is not a plain address`);
  return address;
}
