import type { ApprovalClaim } from "../../schemas/access-token.ts";
import type { RequestedGrant } from "../../schemas/approval.ts";
import { TOKEN_TYPE } from "../../schemas/token-request.ts";
import type { WritEnv } from "../env.ts";
import { fail, ok, type Reason, type Result } from "../errors.ts";
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
 * Burns the agent's proofs in its ledger (one Durable Object round trip, atomic, so a replayed assertion
 * never yields a second token) and signs.
 */
export async function issueToken(
  env: WritEnv,
  agent: AuthenticatedAgent,
  grant: RequestedGrant,
  ctx: MintContext,
): Promise<Result<Issued>> {
  const burnt = await burnProofs(env, agent, ctx.now);
  if (!burnt.ok) return burnt;
  return ok(await mintToken(grant, ctx));
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

export async function mintToken(grant: RequestedGrant, ctx: MintContext, approval?: ApprovalClaim): Promise<Issued> {
  const jti = crypto.randomUUID();
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
