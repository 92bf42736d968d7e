import { GRANT_TYPE, type TokenRequest } from "../../schemas/token-request.ts";
import { parseAuthReqId } from "../approvals/auth-req-id.ts";
import { hashSecret } from "../approvals/secrets.ts";
import { assertNever, fail, ok, type Result } from "../errors.ts";
import { authenticateAgent } from "./authenticate-agent.ts";
import type { GrantContext } from "./grant-context.ts";
import { burnProofs, type Issued, mintToken } from "./issue-token.ts";

/**
 * The CIBA poll (OpenID CIBA §10.1, poll mode): the agent authenticates as a client, presents its auth_req_id
 * and gets `authorization_pending`, `slow_down`, a refusal, or the token its approvers agreed to, once.
 */
export async function cibaGrant(request: TokenRequest, ctx: GrantContext): Promise<Result<Issued>> {
  // CIBA clients are confidential: the poll needs the agent's own signature, not just the auth_req_id.
  const agent = await authenticateAgent(
    { ...request, grant_type: GRANT_TYPE.clientCredentials },
    {
      policy: ctx.policy,
      audiences: ctx.assertionAudiences,
      now: ctx.now,
    },
  );
  if (!agent.ok) return agent;
  const agentId = agent.value.agentId;
  ctx.outcome.agent = agentId;
  if (request.auth_req_id === undefined) return fail({ code: "missing_parameter", parameter: "auth_req_id" });
  const parsed = parseAuthReqId(request.auth_req_id);
  if (!parsed) return fail({ code: "auth_req_id_invalid" });
  ctx.outcome.approval_id = parsed.approvalId;

  // Burnt first: a captured poll replayed after approval must not collect the token.
  const burnt = await burnProofs(ctx.env, agent.value, ctx.now);
  if (!burnt.ok) return burnt;
  const poll = await ctx.env.APPROVAL_REQUEST.getByName(parsed.approvalId).poll(
    await hashSecret(parsed.secret),
    agentId,
    ctx.now.getTime(),
  );
  switch (poll.status) {
    case "unknown":
      return fail({ code: "auth_req_id_invalid" });
    case "pending":
      return fail({ code: "authorization_pending" });
    case "slow_down":
      return fail({ code: "slow_down" });
    case "denied":
      return fail({ code: "approval_denied" });
    case "cancelled":
      return fail({ code: "approval_cancelled" });
    case "expired":
      return fail({ code: "approval_expired" });
    case "collected":
      return fail({ code: "approval_collected" });
    case "approved":
      break;
    default:
      return assertNever(poll);
  }
  // The approval froze the request, but a redeploy may since have disabled the agent or withdrawn the use case.
  const agentNow = ctx.policy.agents.get(agentId);
  if (agentNow?.status !== "active") return fail({ code: "agent_disabled" });
  if (!ctx.policy.useCases.get(poll.grant.useCaseId)?.agents.includes(agentId))
    return fail({ code: "use_case_not_allowed", useCase: poll.grant.useCaseId });
  Object.assign(ctx.outcome, { use_case: poll.grant.useCaseId, audience: poll.grant.audience });
  return ok(await mintToken(poll.grant, { issuer: ctx.issuer, keys: await ctx.keys(), now: ctx.now, tokenExchange: false }, poll.approval));
}
