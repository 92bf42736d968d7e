import type { Outcome } from "../../core/audit/outcome.ts";
import { budgetRules } from "../../core/budgets/budget-rules.ts";
import { decide, requestedGrant } from "../../core/policy/decide.ts";
import { fail } from "../../core/refusals.ts";
import { GRANT_TYPE, type TokenRequest } from "../../schemas/token-request.ts";
import { authenticateAgent, unverifiedClaim } from "./authenticate-agent.ts";
import { delegationGrant, isDelegationRequest } from "./delegation.ts";
import { type GrantContext, type GrantOutcome, withFacts } from "./grant-context.ts";
import { dpopRequirement, type Issued, issueToken, withDpopProof } from "./issue-token.ts";
import { requestedUseCaseId, useCaseRequest } from "./use-case-request.ts";

/**
 * Token exchange (RFC 8693) and client_credentials: authenticate, decide, burn the proofs (the DPoP proof's too), sign.
 * A token exchange of a Writ access token by another agent is a delegation (`delegation.ts`).
 */
export async function useCaseGrant(request: TokenRequest, ctx: GrantContext): Promise<GrantOutcome<Issued>> {
  if (isDelegationRequest(request)) return delegationGrant(request, ctx);
  const agent = await authenticateAgent(request, { policy: ctx.policy, audiences: ctx.assertionAudiences, now: ctx.now });
  if (!agent.ok) return withFacts(agent, unverifiedClaim(request));
  const facts: Outcome = { agent: agent.value.agentId, use_case: requestedUseCaseId(request) };
  const decision = decide(ctx.policy, agent.value.agentId, useCaseRequest(request), ctx.now);
  if (!decision.ok) return withFacts(decision, facts);
  const grant = decision.value;
  Object.assign(facts, { use_case: grant.useCase.id, audience: grant.audience, intent: grant.intent });
  const bound = dpopRequirement(grant.useCase, ctx.dpop);
  if (!bound.ok) return withFacts(bound, facts);
  if (grant.needsApproval) return withFacts(fail({ code: "approval_required", useCase: grant.useCase.id }), facts);
  const keys = await ctx.keys();
  return issueToken(ctx, withDpopProof(agent.value, ctx.dpop), requestedGrant(grant), budgetRules(grant.agent, grant.useCase), facts, {
    keys,
    tokenExchange: request.grant_type === GRANT_TYPE.tokenExchange,
    ...(ctx.dpop === undefined ? {} : { jkt: ctx.dpop.jkt }),
  });
}
