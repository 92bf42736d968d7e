import { exports } from "cloudflare:workers";
import { hashSecret } from "../../lib/crypto.ts";
import { CLIENT_ASSERTION_TYPE_JWT_BEARER, GRANT_TYPE } from "../../schemas/token-request.ts";
import { assertionFor, type DemoAgent, ISSUER, postForm } from "./broker.ts";

export async function clientAuth(agent: DemoAgent): Promise<Record<string, string>> {
  return { client_id: agent, client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER, client_assertion: await assertionFor(agent) };
}

export async function startApproval(agent: DemoAgent, params: Record<string, string>): Promise<Response> {
  return postForm("/bc-authorize", { ...(await clientAuth(agent)), ...params });
}

export async function pollApproval(agent: DemoAgent, authReqId: string): Promise<Response> {
  return postForm("/token", { grant_type: GRANT_TYPE.ciba, auth_req_id: authReqId, ...(await clientAuth(agent)) });
}

export type SentMail = { to: string; subject: string; text: string; html: string; link: string; approvalId: string };

/** The approval mail the broker sent for one request, from the dev outbox (DEV_OUTBOX is on in tests). */
export async function sentMails(approvalId: string): Promise<SentMail[]> {
  const res = await exports.default.fetch(`${ISSUER}/dev/outbox.json?approval_id=${approvalId}`);
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
