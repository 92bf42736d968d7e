import { parseAuthReqId } from "../../core/approvals/auth-req-id.ts";
import type { Outcome } from "../../core/audit/outcome.ts";
import { budgetRules } from "../../core/budgets/budget-rules.ts";
import { assertNever, fail, type Reason } from "../../core/refusals.ts";
import type { PollResult } from "../../durable-objects/approval-request.ts";
import { hashSecret } from "../../lib/crypto.ts";
import type { ApprovalClaim } from "../../schemas/access-token.ts";
import type { RequestedGrant } from "../../schemas/approval.ts";
import { GRANT_TYPE, type TokenRequest } from "../../schemas/token-request.ts";
import { type AuthenticatedAgent, authenticateAgent } from "./authenticate-agent.ts";
import { type GrantContext, type GrantOutcome, withFacts } from "./grant-context.ts";
import { burnProofs, type Issued, issueToken } from "./issue-token.ts";

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
  if (!agent.ok) return withFacts(agent, {});
  const facts: Outcome = { agent: agent.value.agentId };
  if (request.auth_req_id === undefined) return withFacts(fail({ code: "missing_parameter", parameter: "auth_req_id" }), facts);
  const parsed = parseAuthReqId(request.auth_req_id);
  if (!parsed) return withFacts(fail({ code: "auth_req_id_invalid" }), facts);
  facts.approval_id = parsed.approvalId;

  const approval = ctx.env.APPROVAL_REQUEST.getByName(parsed.approvalId);
  const poll = await approval.poll(await hashSecret(parsed.secret), agent.value.agentId, ctx.now.getTime());
  if (poll.status !== "approved") {
    // Every poll burns its assertion, so a captured poll cannot be replayed once the request is approved.
    const burnt = await burnProofs(ctx.env, agent.value, ctx.now);
    return withFacts(burnt.ok ? fail(pollRefusal(poll.status)) : burnt, facts);
  }
  const issued = await issueApproved(agent.value, poll.grant, poll.approval, ctx, facts);
  // The approval handed out its one token; if the ledger refused it (replay, budget, kill switch), hand it back.
  if (!issued.ok) await approval.release();
  return issued;
}

async function issueApproved(
  agent: AuthenticatedAgent,
  grant: RequestedGrant,
  approval: ApprovalClaim,
  ctx: GrantContext,
  facts: Outcome,
): Promise<GrantOutcome<Issued>> {
  // The approval froze the request, but a redeploy may since have disabled the agent or withdrawn the use case.
  const agentNow = ctx.policy.agents.get(agent.agentId);
  const useCase = ctx.policy.useCases.get(grant.useCaseId);
  if (agentNow?.status !== "active") return withFacts(fail({ code: "agent_disabled" }), facts);
  if (!useCase?.agents.includes(agent.agentId)) return withFacts(fail({ code: "use_case_not_allowed", useCase: grant.useCaseId }), facts);
  const withGrant: Outcome = { ...facts, use_case: grant.useCaseId, audience: grant.audience };
  // Pending and refused requests cost nothing: the budget is charged here, when the token is issued.
  const keys = await ctx.keys();
  return issueToken(ctx, agent, grant, budgetRules(agentNow, useCase), withGrant, { keys, tokenExchange: false, approval });
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
