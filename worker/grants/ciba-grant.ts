import { parseAuthReqId } from "../../core/approvals/auth-req-id.ts";
import { eligibility, tally } from "../../core/approvals/quorum.ts";
import type { Outcome } from "../../core/audit/outcome.ts";
import { budgetRules } from "../../core/budgets/budget-rules.ts";
import { decide, type Grant, type UseCaseRequest } from "../../core/policy/decide.ts";
import { assertNever, fail, ok, type Reason, type Result } from "../../core/refusals.ts";
import type { PollResult } from "../../durable-objects/approval-request.ts";
import { hashSecret } from "../../lib/crypto.ts";
import type { ApprovalClaim } from "../../schemas/access-token.ts";
import type { RequestedGrant } from "../../schemas/approval.ts";
import { AGENT_USE_CASE_TYPE } from "../../schemas/authorization-details.ts";
import { GRANT_TYPE, type TokenRequest } from "../../schemas/token-request.ts";
import { authenticateAgent, unverifiedClaim } from "./authenticate-agent.ts";
import { type GrantContext, type GrantOutcome, withFacts } from "./grant-context.ts";
import { dpopRequirement, type Issued, type IssuingAgent, issueToken, replayReason, withDpopProof } from "./issue-token.ts";

/**
 * The CIBA poll (OpenID CIBA §10.1, poll mode): the agent authenticates as a client, presents its auth_req_id
 * and gets `authorization_pending`, `slow_down`, a refusal, or the token its approvers agreed to, once.
 */
export async function cibaGrant(request: TokenRequest, ctx: GrantContext): Promise<GrantOutcome<Issued>> {
  // CIBA clients are confidential: the poll needs the agent's own signature, not just the auth_req_id.
  const agent = await authenticateAgent(
    { ...request, grant_type: GRANT_TYPE.clientCredentials },
    { policy: ctx.policy, audiences: ctx.assertionAudiences, now: ctx.now },
  );
  if (!agent.ok) return withFacts(agent, unverifiedClaim(request));
  // The poll's DPoP proof is burnt with the assertion, before the request is touched; the token binds to its key.
  // bc-authorize takes no proof (RFC 9449 does not cover CIBA): the key is the one of the poll that collects.
  const polling = withDpopProof(agent.value, ctx.dpop);
  const facts: Outcome = { agent: agent.value.agentId };
  if (request.auth_req_id === undefined) return withFacts(fail({ code: "missing_parameter", parameter: "auth_req_id" }), facts);
  const parsed = parseAuthReqId(request.auth_req_id);
  if (!parsed) return withFacts(fail({ code: "auth_req_id_invalid" }), facts);
  facts.approval_id = parsed.approvalId;

  // Every poll burns its assertion, first: a captured poll replayed is refused before it touches the request, so it
  // can neither collect a token nor push the real agent into `slow_down` (issue 11). The proofs are spent here,
  // so the token below is issued without them.
  const now = ctx.now.getTime();
  const admitted = await ctx.env.AGENT_LEDGER.getByName(agent.value.agentId).admitPoll(
    polling.proofs.map(proofUse),
    parsed.approvalId,
    now,
  );
  if (!admitted.ok) return withFacts(fail(replayReason(polling, admitted.replayedJti)), facts);
  const approval = ctx.env.APPROVAL_REQUEST.getByName(parsed.approvalId);
  const poll = await approval.poll(await hashSecret(parsed.secret), agent.value.agentId, now, !admitted.onBooks);
  if (poll.status !== "approved") return withFacts(fail(pollRefusal(poll.status)), facts);
  const issued = await issueApproved({ ...polling, proofs: [] }, poll.grant, poll.approval, ctx, facts);
  // The approval handed out its one token; if the policy or the ledger refused it (a time window, a budget, the
  // kill switch), hand it back: the agent may poll again until the request's deadline.
  if (!issued.ok) await approval.release();
  return issued;
}

/**
 * The approval froze the request, but the policy may have changed since, or its conditions (a time window) may not
 * hold now: the frozen request is decided again at `now`, and the token carries no more than the approvers saw.
 */
async function issueApproved(
  agent: IssuingAgent,
  frozen: RequestedGrant,
  approval: ApprovalClaim,
  ctx: GrantContext,
  facts: Outcome,
): Promise<GrantOutcome<Issued>> {
  const withGrant: Outcome = { ...facts, use_case: frozen.useCaseId, audience: frozen.audience, intent: frozen.intent };
  const decision = decide(ctx.policy, agent.agentId, frozenRequest(frozen), ctx.now);
  if (!decision.ok) return withFacts(decision, withGrant);
  const current = decision.value;
  const bound = dpopRequirement(current.useCase, ctx.dpop);
  if (!bound.ok) return withFacts(bound, withGrant);
  if (!stillApproved(current, approval.approved_by))
    return withFacts(
      fail({ code: "approval_outdated", detail: "its approvals no longer meet the use case's approvers and quorum" }),
      withGrant,
    );
  const grant = narrowToApproval(frozen, current);
  if (!grant.ok) return withFacts(grant, withGrant);
  // Pending and refused requests cost nothing: the budget is charged here, when the token is issued.
  const keys = await ctx.keys();
  return issueToken(ctx, agent, grant.value, budgetRules(current.agent, current.useCase), withGrant, {
    keys,
    tokenExchange: false,
    approval,
    ...(ctx.dpop === undefined ? {} : { jkt: ctx.dpop.jkt }),
  });
}

/** The frozen grant asked for again, exactly: its use case narrowed to its actions and locations, its audience, intent and context. */
function frozenRequest(frozen: RequestedGrant): UseCaseRequest {
  return {
    authorizationDetails: [{ type: AGENT_USE_CASE_TYPE, use_case: frozen.useCaseId, actions: frozen.actions, locations: frozen.locations }],
    audience: frozen.audience,
    intent: frozen.intent,
    context: frozen.context,
  };
}

/** The approvals given still approve under today's settings, counting only people who are still approvers (and not the barred owner). */
function stillApproved(current: Grant, approvedBy: readonly string[]): boolean {
  const settings = current.useCase.approval;
  if (!settings) return true;
  const votes = approvedBy
    .filter((approver) => eligibility(settings, approver, current.agent.owner, []).ok)
    .map((approver) => ({ approver, decision: "approve" as const }));
  return tally(settings, votes) === "approved";
}

/**
 * Never wider than what the approvers saw, nor than today's policy: the shorter TTL, and for each limit the tighter
 * value. Numeric limits are caps (a token costs them against the daily budgets): the smaller wins, and a cap only
 * one side has is kept. Any other limit that differs cannot be ordered, so the approval no longer fits it.
 */
function narrowToApproval(frozen: RequestedGrant, current: Grant): Result<RequestedGrant> {
  const limits: RequestedGrant["limits"] = {};
  for (const name of new Set([...Object.keys(frozen.limits), ...Object.keys(current.limits)])) {
    const value = tighter(frozen.limits[name], current.limits[name]);
    if (value === undefined) return fail({ code: "approval_outdated", detail: `limit ${name} changed` });
    limits[name] = value;
  }
  return ok({ ...frozen, limits, ttlSeconds: Math.min(frozen.ttlSeconds, current.ttlSeconds) });
}

type Limit = RequestedGrant["limits"][string];

/** The tighter of two values of one limit, or undefined when they cannot be ordered. */
function tighter(approved: Limit | undefined, today: Limit | undefined): Limit | undefined {
  if (approved === today) return approved;
  if (approved === undefined) return typeof today === "number" ? today : undefined;
  if (today === undefined) return typeof approved === "number" ? approved : undefined;
  return typeof approved === "number" && typeof today === "number" ? Math.min(approved, today) : undefined;
}

function proofUse({ jti, expiresAt }: IssuingAgent["proofs"][number]): { jti: string; expiresAt: number } {
  return { jti, expiresAt };
}

function pollRefusal(status: Exclude<PollResult["status"], "approved">): Reason {
  switch (status) {
    case "unknown":
      return { code: "auth_req_id_invalid" };
    case "pending":
      return { code: "authorization_pending" };
    case "slow_down":
      return { code: "slow_down" };
    case "denied":
      return { code: "approval_denied" };
    case "cancelled":
      return { code: "approval_cancelled" };
    case "expired":
      return { code: "approval_expired" };
    case "collected":
      return { code: "approval_collected" };
    default:
      return assertNever(status);
  }
}
