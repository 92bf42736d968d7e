/** Human approval as an agent and its approvers meet it: /bc-authorize, polls of /token, and the approval mail. */
import { hashSecret } from "../../lib/crypto.ts";
import type { AgentId } from "./assertions.ts";
import { CIBA_GRANT } from "./oauth.ts";
import { brokerGet, brokerPostForm, clientAuth } from "./requests.ts";

export async function startApproval(agent: AgentId, params: Record<string, string>): Promise<Response> {
  return brokerPostForm("/bc-authorize", { ...(await clientAuth(agent)), ...params });
}

export async function pollApproval(agent: AgentId, authReqId: string): Promise<Response> {
  return brokerPostForm("/token", { grant_type: CIBA_GRANT, auth_req_id: authReqId, ...(await clientAuth(agent)) });
}

export type SentMail = { to: string; subject: string; text: string; html: string; link: string; approvalId: string };

/** The approval mail the broker sent for one request, from the dev outbox (DEV_OUTBOX is on in tests). */
export async function sentMails(approvalId: string): Promise<SentMail[]> {
  const res = await brokerGet("/dev/outbox.json", { approval_id: approvalId });
  const { mails } = await res.json<{ mails: SentMail[] }>();
  return mails;
}

/** The link token of one approver's mail and its hash, as the approval page would compute it. */
export async function linkOf(mails: SentMail[], approver: string): Promise<{ token: string; hash: string; url: URL }> {
  const mail = mails.find((m) => m.to === approver);
  if (!mail) throw new Error(`no mail to ${approver}`);
  const url = new URL(mail.link);
  const token = url.searchParams.get("t") ?? "";
  return { token, hash: await hashSecret(token), url };
}
