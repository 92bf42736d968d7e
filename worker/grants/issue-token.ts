import { TOKEN_TYPE } from "../../schemas/token-request.ts";
import type { WritEnv } from "../env.ts";
import { fail, ok, type Result } from "../errors.ts";
import type { Grant } from "../policy/decide.ts";
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

type IssueContext = { env: WritEnv; issuer: string; keys: ActiveKeys; now: Date; tokenExchange: boolean };

/**
 * The last step of every grant: burn the agent's proofs in its ledger (one Durable Object round trip,
 * atomic, so a replayed assertion can never yield a second token) and sign.
 */
export async function issueToken(
  agent: AuthenticatedAgent,
  grant: Grant,
  ctx: IssueContext,
): Promise<Result<{ response: TokenResponse; jti: string }>> {
  const ledger = ctx.env.AGENT_LEDGER.getByName(agent.agentId);
  const admitted = await ledger.admit(
    agent.proofs.map(({ jti, expiresAt }) => ({ jti, expiresAt })),
    Math.floor(ctx.now.getTime() / 1000),
  );
  if (!admitted.ok) {
    const source = agent.proofs.find((p) => p.jti === admitted.replayedJti)?.source;
    return fail(
      source === "subject_token"
        ? { code: "subject_token_invalid", failure: "replayed" }
        : { code: "client_assertion_invalid", failure: "replayed" },
    );
  }

  const jti = crypto.randomUUID();
  const claims = accessTokenClaims(grant, ctx.issuer, ctx.now, jti);
  const accessToken = await signAccessToken(claims, ctx.keys.signer);
  const response: TokenResponse = {
    access_token: accessToken,
    token_type: "Bearer",
    expires_in: grant.ttlSeconds,
    scope: claims.scope,
    authorization_details: claims.authorization_details,
  };
  if (ctx.tokenExchange) response.issued_token_type = TOKEN_TYPE.accessToken;
  return ok({ response, jti });
}
