import { log } from "../../lib/log.ts";
import { mimeMessage } from "../../lib/mime.ts";
import { oneLine } from "../../lib/text.ts";
import { utcDateTime } from "../../lib/time.ts";
import type { WritEnv } from "../env.ts";
import { type ApprovalEmail, sendApprovalEmail } from "./approval-email.ts";

/** What the owner of a quarantined agent is told. Every value comes from the policy, the config or the broker. */
export type QuarantineNotice = {
  from: string;
  /** The agent's owner (the policy's `owner`). */
  to: string;
  agentId: string;
  agentName: string;
  /** The reported key. */
  kid: string;
  /** Open and approved approval requests the quarantine cancelled. */
  cancelled: number;
  issuer: string;
  /** The report's request id: what the admin looks for in the audit trail and the log. */
  requestId: string;
  /** Epoch milliseconds. */
  at: number;
};

const SENDER_NAME = "Writ security";

/**
 * The mail to an agent's owner after a leaked-key report quarantined the agent: what happened, what Writ did, and
 * the steps to take (SECURITY.md). Plain text only: a security notice has nothing to hide behind markup. Its
 * reference in the dev outbox is `key-report:<request id>`; the link is the admin page. Pure: no I/O, no clock.
 *
 * @example
 * const mail = composeQuarantineEmail({ from: config.approvalFrom, to: agent.owner, agentId: agent.id, agentName: agent.name,
 *   kid, cancelled, issuer: config.issuer, requestId, at: now });
 */
export function composeQuarantineEmail(notice: QuarantineNotice): ApprovalEmail {
  const subject = `Writ quarantined agent ${notice.agentId}: its private key was reported leaked`;
  const link = `${notice.issuer}/admin`;
  const text = [
    `Writ quarantined the agent ${oneLine(notice.agentName)} (${notice.agentId}) at ${utcDateTime(notice.at)}.`,
    `Someone proved they hold one of its private keys (key id ${JSON.stringify(oneLine(notice.kid))}) by signing a leaked-key report with it.`,
    "",
    "What Writ did:",
    "- The agent gets no new tokens.",
    "- Every token issued to it before now is inactive at /introspect.",
    `- Its open and approved approval requests were cancelled (${notice.cancelled}).`,
    "",
    'What to do (SECURITY.md, "An agent\'s private key leaked"):',
    "1. Treat that key as public. Find out where it leaked and what the agent did with it (the audit log).",
    `2. Make a new key:  npm run keygen -- --agent ${notice.agentId} --out <file outside the repository>`,
    `3. Replace the reported key in the policy's entry for ${notice.agentId} and deploy.`,
    "   Until the reported key is gone from the policy, switching the agent back on lets the key holder in again.",
    "4. Switch the agent back on:",
    `   curl -X POST -H "Authorization: Bearer $ADMIN_TOKEN" ${notice.issuer}/admin/agents/${notice.agentId}/enable`,
    "",
    `Admin page: ${link}`,
    `Report ${notice.requestId}`,
    "",
  ].join("\n");

  const raw = mimeMessage({
    from: { address: notice.from, name: SENDER_NAME },
    to: { address: notice.to },
    subject,
    date: notice.at,
    text,
    // Readable as it travels, and no line over 76 characters however long the issuer's URL is.
    encoding: "quoted-printable",
    // RFC 3834 §5: automated mail; out-of-office replies must not answer it.
    headers: { "Auto-Submitted": "auto-generated" },
  });
  return {
    from: notice.from,
    to: notice.to,
    approvalId: `key-report:${notice.requestId}`,
    link,
    subject,
    text,
    html: "",
    raw,
  };
}

/**
 * Tells the owner, through the approval mail's `send_email` binding (and the dev outbox where it is on). A failed
 * send is logged and returned as `false`, never thrown: the quarantine stands whether or not the mail goes out.
 */
export async function tellOwner(env: WritEnv, notice: QuarantineNotice): Promise<boolean> {
  const sent = await sendApprovalEmail(env, composeQuarantineEmail(notice), notice.at);
  if (!sent.ok) log("warn", "quarantine_email_failed", { agent: notice.agentId, to: notice.to, error: sent.error });
  return sent.ok;
}
