import type { ApprovalClaim } from "../../schemas/access-token.ts";
import type { RequestedGrant } from "../../schemas/approval.ts";
import { TOKEN_TYPE } from "../../schemas/token-request.ts";
import { type BudgetRule, tokenUnits } from "../budgets/budget-rules.ts";
import type { WritEnv } from "../env.ts";
import { assertNever, fail, ok, type Reason, type Result } from "../errors.ts";
import { accessTokenClaims, signAccessToken } from "../tokens/access-token.ts";
import type { ActiveKeys } from "../tokens/signing-keys.ts";
import type { AuthenticatedAgent } from "./authenticate-agent.ts";

export type TokenResponse = {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  scope: string;
  issued_token_type?: string;
  authorization_details: unknown[];
};

export type Issued = { response: TokenResponse; jti: string };
type MintContext = { issuer: string; keys: ActiveKeys; now: Date; tokenExchange: boolean };

/**
 * One Durable Object round trip, then the signature: the agent's ledger atomically refuses a disabled agent,
 * burns the proofs (a replayed assertion never yields a second token) and charges every budget.
 */
export async function issueToken(
  env: WritEnv,
  agent: AuthenticatedAgent,
  grant: RequestedGrant,
  rules: BudgetRule[],
  ctx: MintContext,
  approval?: ApprovalClaim,
): Promise<Result<Issued>> {
  const jti = crypto.randomUUID();
  const charged = await chargeLedger(env, agent, grant, rules, jti, ctx.now);
  if (!charged.ok) return charged;
  return ok(await mintToken(grant, ctx, approval, jti));
}

async function chargeLedger(
  env: WritEnv,
  agent: AuthenticatedAgent,
  grant: RequestedGrant,
  rules: BudgetRule[],
  jti: string,
  now: Date,
): Promise<Result<void>> {
  const result = await env.AGENT_LEDGER.getByName(agent.agentId).issue(
    agent.proofs.map(({ jti, expiresAt }) => ({ jti, expiresAt })),
    { jti, useCaseId: grant.useCaseId, units: tokenUnits(grant.limits), expiresAt: now.getTime() + grant.ttlSeconds * 1000 },
    rules,
    now.getTime(),
  );
  if (result.ok) return ok(undefined);
  switch (result.reason) {
    case "disabled":
      return fail({ code: "agent_disabled" });
    case "replayed":
      return fail(replayReason(agent, result.replayedJti));
    case "budget":
      return fail({ code: "budget_exhausted", budget: result.budget, retryAfterSeconds: result.retryAfterSeconds });
    default:
      return assertNever(result);
  }
}

export async function burnProofs(env: WritEnv, agent: AuthenticatedAgent, now: Date): Promise<Result<void>> {
  const admitted = await env.AGENT_LEDGER.getByName(agent.agentId).admit(
    agent.proofs.map(({ jti, expiresAt }) => ({ jti, expiresAt })),
    Math.floor(now.getTime() / 1000),
  );
  return admitted.ok ? ok(undefined) : fail(replayReason(agent, admitted.replayedJti));
}

export function replayReason(agent: AuthenticatedAgent, replayedJti: string): Reason {
  const source = agent.proofs.find((p) => p.jti === replayedJti)?.source;
  return source === "subject_token"
    ? { code: "subject_token_invalid", failure: "replayed" }
    : { code: "client_assertion_invalid", failure: "replayed" };
}

async function mintToken(
  grant: RequestedGrant,
  ctx: MintContext,
  approval?: ApprovalClaim,
  jti: string = crypto.randomUUID(),
): Promise<Issued> {
  const claims = accessTokenClaims(grant, ctx.issuer, ctx.now, jti, approval);
  const accessToken = await signAccessToken(claims, ctx.keys.signer);
  const response: TokenResponse = {
    access_token: accessToken,
    token_type: "Bearer",
    expires_in: grant.ttlSeconds,
    scope: claims.scope,
    authorization_details: claims.authorization_details,
  };
  if (ctx.tokenExchange) response.issued_token_type = TOKEN_TYPE.accessToken;
  return { response, jti };
}
