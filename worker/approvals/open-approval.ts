import { newAuthReqId } from "../../core/approvals/auth-req-id.ts";
import { requestHash } from "../../core/approvals/request-hash.ts";
import type { AuditExtra, Outcome } from "../../core/audit/outcome.ts";
import { decide, type Grant, requestedGrant } from "../../core/policy/decide.ts";
import { fail, ok, type Result } from "../../core/refusals.ts";
import type { OpenApprovalInput } from "../../durable-objects/approval-request.ts";
import { canonicalJson } from "../../lib/canonical-json.ts";
import { hashSecret, randomSecret, sha256 } from "../../lib/crypto.ts";
import { log } from "../../lib/log.ts";
import type { RequestedGrant } from "../../schemas/approval.ts";
import type { BackchannelRequest } from "../../schemas/token-request.ts";
import { GRANT_TYPE } from "../../schemas/token-request.ts";
import type { AuthenticatedAgent } from "../grants/authenticate-agent.ts";
import { authenticateAgent, unverifiedClaim } from "../grants/authenticate-agent.ts";
import { type GrantContext, type GrantOutcome, withFacts } from "../grants/grant-context.ts";
import { replayReason } from "../grants/issue-token.ts";
import { requestedUseCaseId, useCaseRequest } from "../grants/use-case-request.ts";
import { composeApprovalEmail, sendApprovalEmail } from "./approval-email.ts";

/** CIBA §7.3 default; the broker answers `slow_down` (+5 s) to agents that poll faster. */
export const CIBA_INTERVAL_SECONDS = 5;
/** Open approval requests one agent may have at a time: enough for real work, too few to flood inboxes. */
export const MAX_OPEN_APPROVALS_PER_AGENT = 5;

export type BackchannelResponse = { auth_req_id: string; expires_in: number; interval: number };

type OpenContext = GrantContext & { approvalOrigin: string; mailFrom: string };

/**
 * POST /bc-authorize: the agent asks for a use case that needs a human. The request is frozen (and hashed),
 * reserved in the agent's ledger (deduplicated, capped, proofs burnt), opened in its own Durable Object, and
 * every eligible approver is emailed a link of their own. The agent only ever learns the auth_req_id.
 */
export async function openApproval(request: BackchannelRequest, ctx: OpenContext): Promise<GrantOutcome<BackchannelResponse>> {
  const agent = await authenticateBackchannelClient(request, ctx);
  if (!agent.ok) return withFacts(agent, unverifiedClaim(request));
  const agentId = agent.value.agentId;
  const facts: Outcome = { agent: agentId };

  // CIBA requires the `openid` scope; Writ issues no ID token, so it is accepted and set aside.
  const scope = request.scope
    ?.split(" ")
    .filter((s) => s && s !== "openid")
    .join(" ");
  facts.use_case = requestedUseCaseId(request);
  const decision = decide(ctx.policy, agentId, useCaseRequest({ ...request, scope: scope || undefined }), ctx.now);
  if (!decision.ok) return withFacts(decision, facts);
  const grant = decision.value;
  Object.assign(facts, { use_case: grant.useCase.id, audience: grant.audience, intent: grant.intent });
  const settings = grant.useCase.approval;
  if (!grant.needsApproval || !settings) return withFacts(fail({ code: "approval_not_needed", useCase: grant.useCase.id }), facts);

  const frozen = requestedGrant(grant);
  const hash = await approvalHash(frozen, request.binding_message);
  const now = ctx.now.getTime();
  const ids = newAuthReqId();
  const expiresAt = now + settings.request_ttl_seconds * 1000;
  const ledger = ctx.env.AGENT_LEDGER.getByName(agentId);
  const reserved = await ledger.reserveApproval(
    agent.value.proofs.map(({ jti, expiresAt }) => ({ jti, expiresAt })),
    { requestHash: hash, approvalId: ids.approvalId, authReqId: ids.authReqId, expiresAt },
    MAX_OPEN_APPROVALS_PER_AGENT,
    now,
  );
  if (reserved.kind === "replayed") return withFacts(fail(replayReason(agent.value, reserved.replayedJti)), facts);
  if (reserved.kind === "capped")
    return withFacts(fail({ code: "too_many_open_approvals", retryAfterSeconds: reserved.retryAfterSeconds }), facts);
  if (reserved.kind === "existing") {
    Object.assign(facts, { approval_id: reserved.approvalId, deduplicated: true });
    return withFacts(ok(backchannelResponse(reserved.authReqId, reserved.expiresAt, now)), facts);
  }
  facts.approval_id = ids.approvalId;

  const approvers = eligibleApprovers(grant);
  const links = await Promise.all(approvers.map(async (approver) => ({ approver, token: randomSecret() })));
  const input: OpenApprovalInput = {
    approvalId: ids.approvalId,
    requestHash: hash,
    grant: frozen,
    settings,
    meta: {
      agentName: grant.agent.name,
      agentOwner: grant.agent.owner,
      useCaseDescription: grant.useCase.description,
      bindingMessage: request.binding_message,
    },
    authReqSecretHash: await hashSecret(ids.secret),
    links: await Promise.all(links.map(async (l) => ({ approver: l.approver, tokenHash: await hashSecret(l.token) }))),
    intervalSeconds: CIBA_INTERVAL_SECONDS,
    now,
  };
  try {
    await ctx.env.APPROVAL_REQUEST.getByName(ids.approvalId).open(input);
  } catch (error) {
    await ledger.releaseApproval(ids.approvalId);
    throw error;
  }

  const sent = await Promise.all(
    links.map(({ approver, token }) =>
      sendApprovalEmail(
        ctx.env,
        composeApprovalEmail({
          from: ctx.mailFrom,
          to: approver,
          link: `${ctx.approvalOrigin}/approvals/${ids.approvalId}?t=${token}`,
          approvalId: ids.approvalId,
          grant: frozen,
          agentName: grant.agent.name,
          agentOwner: grant.agent.owner,
          useCaseDescription: grant.useCase.description,
          bindingMessage: request.binding_message,
          requestedAt: now,
          expiresAt,
          quorum: settings.quorum,
          approverCount: approvers.length,
        }),
      ),
    ),
  );
  const extras: AuditExtra[] = links.map(({ approver }, i) => ({
    type: "approval_email",
    agent: agentId,
    use_case: grant.useCase.id,
    approval_id: ids.approvalId,
    approver,
    decision: sent[i]?.ok ? "sent" : "failed",
  }));
  const failed = sent.filter((s) => !s.ok).length;
  // A failed email does not undo the request: other approvers can still decide, and the failure is on record.
  if (failed > 0) log("error", "approval_email_failed", { approval_id: ids.approvalId, failed, sent: sent.length - failed });
  facts.emails_sent = sent.length - failed;
  return withFacts(ok(backchannelResponse(ids.authReqId, expiresAt, now)), facts, extras);
}

/**
 * What an approval is bound to, and so what makes two requests the same one: the frozen grant and the binding
 * message. CIBA §7.1: the binding message is shown on the agent's side and to the approver "to interlock them";
 * merging a request that carries another message would hand the agent an auth_req_id whose page shows a message
 * the agent never displayed, and the approver would match (or reject) the wrong one. So a new message is a new
 * request, mailed and shown with its own message; an identical one (same message, or none) still merges. Without a
 * binding message the hash is the grant's own (`core/approvals/request-hash.ts`), as before.
 */
async function approvalHash(grant: RequestedGrant, bindingMessage: string | undefined): Promise<string> {
  const hash = await requestHash(grant);
  return bindingMessage === undefined ? hash : sha256(canonicalJson({ request_hash: hash, binding_message: bindingMessage }));
}

/** Separation of duties: an owner barred from approving gets no link at all. */
function eligibleApprovers(grant: Grant): string[] {
  const settings = grant.useCase.approval;
  if (!settings) return [];
  const owner = grant.agent.owner;
  return settings.approvers.filter((a) => settings.owner_may_approve || a !== owner);
}

function backchannelResponse(authReqId: string, expiresAt: number, now: number): BackchannelResponse {
  return { auth_req_id: authReqId, expires_in: Math.max(1, Math.floor((expiresAt - now) / 1000)), interval: CIBA_INTERVAL_SECONDS };
}

/** CIBA §7.1 requires client authentication: private_key_jwt, or the agent's assertion as subject_token as at /token. */
function authenticateBackchannelClient(request: BackchannelRequest, ctx: GrantContext): Promise<Result<AuthenticatedAgent>> {
  const grantType =
    request.client_assertion !== undefined || request.subject_token === undefined ? GRANT_TYPE.clientCredentials : GRANT_TYPE.tokenExchange;
  return authenticateAgent({ ...request, grant_type: grantType }, { policy: ctx.policy, audiences: ctx.assertionAudiences, now: ctx.now });
}
