/** Human approval as an agent and its approvers meet it: /bc-authorize, polls of /token, and the approval mail. */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { DecideResult } from "../../durable-objects/approval-request.ts";
import { hashSecret } from "../../lib/crypto.ts";
import type { UseCase } from "../../schemas/policy.ts";
import { afterDecision } from "../../worker/approvals/lifecycle.ts";
import { activePolicy } from "../../worker/policy/active-policy.ts";
import { type AgentId, assertionFor } from "./assertions.ts";
import { CIBA_GRANT, clientAuthParams } from "./oauth.ts";
import { brokerGet, brokerPostForm, clientAuth } from "./requests.ts";

export async function startApproval(agent: AgentId, params: Record<string, string>): Promise<Response> {
  return brokerPostForm("/bc-authorize", { ...(await clientAuth(agent)), ...params });
}

export async function pollApproval(agent: AgentId, authReqId: string): Promise<Response> {
  return brokerPostForm("/token", { grant_type: CIBA_GRANT, auth_req_id: authReqId, ...(await clientAuth(agent)) });
}

/** A CIBA poll's form with a chosen client assertion (a fresh one unless given), to send or to replay. */
export async function pollForm(agent: AgentId, authReqId: string, assertion?: string): Promise<URLSearchParams> {
  return new URLSearchParams({
    grant_type: CIBA_GRANT,
    auth_req_id: authReqId,
    ...clientAuthParams(assertion ?? (await assertionFor(agent)), agent),
  });
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

export const approvalIdOf = (authReqId: string): string => authReqId.split(".")[0] ?? "";

/** Decides through the emailed link as the approval page does after a view, then tells the agent's ledger (afterDecision). */
export async function decideByMail(approvalId: string, approver: string, decision: "approve" | "deny" = "approve"): Promise<DecideResult> {
  const link = await linkOf(await sentMails(approvalId), approver);
  const stub = env.APPROVAL_REQUEST.getByName(approvalId);
  const viewed = await stub.view(link.hash, Date.now());
  if (!viewed.ok) throw new Error(viewed.problem);
  const result = await stub.decide({ linkTokenHash: link.hash, nonce: viewed.nonce, decision, authMethod: "link", now: Date.now() });
  if (result.ok) await afterDecision(env, result, result.status);
  return result;
}

/** A request's stored state, read straight from its Durable Object. */
export function approvalState(
  approvalId: string,
): Promise<{ status: string; interval_s: number; last_poll_at: number | null } | undefined> {
  return runInDurableObject(
    env.APPROVAL_REQUEST.getByName(approvalId),
    (_instance, state) =>
      state.storage.sql
        .exec<{ status: string; interval_s: number; last_poll_at: number | null }>("SELECT status, interval_s, last_poll_at FROM request")
        .toArray()[0],
  );
}

/**
 * Time passes for one request without sleeping: `seconds` since the agent's last poll (any interval has elapsed when
 * not given), and with `deadlinePassed` the request's deadline too.
 */
export function letTimePass(
  approvalId: string,
  { seconds, deadlinePassed = false }: { seconds?: number; deadlinePassed?: boolean } = {},
): Promise<void> {
  return runInDurableObject(env.APPROVAL_REQUEST.getByName(approvalId), (_instance, state) => {
    const sql = state.storage.sql;
    if (seconds === undefined) sql.exec("UPDATE request SET last_poll_at = NULL");
    else sql.exec("UPDATE request SET last_poll_at = last_poll_at - ?", seconds * 1000);
    if (deadlinePassed) sql.exec("UPDATE request SET expires_at = ?", Date.now() - 1);
  });
}

/** Every token the agent's ledger recorded, by id: what a refused collection must leave unchanged. */
export function ledgerTokenIds(agentId: string): Promise<string[]> {
  return runInDurableObject(env.AGENT_LEDGER.getByName(agentId), (_instance, state) =>
    state.storage.sql
      .exec<{ jti: string }>("SELECT jti FROM issued_tokens ORDER BY jti")
      .toArray()
      .map((r) => r.jti),
  );
}

/**
 * A redeploy of the policy with one use case changed, for the duration of `work`: the broker reads the one compiled
 * policy of its isolate, which the tests share. Restored afterwards, whatever happens.
 */
export async function withUseCase<T>(id: string, change: (useCase: UseCase) => UseCase, work: () => Promise<T>): Promise<T> {
  const useCases = activePolicy.useCases as Map<string, UseCase>;
  const before = useCases.get(id);
  if (!before) throw new Error(`no use case ${id} in the demo policy`);
  useCases.set(id, change(structuredClone(before)));
  try {
    return await work();
  } finally {
    useCases.set(id, before);
  }
}
