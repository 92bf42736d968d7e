import type { AccessTokenClaims, ActClaim, AgentAuthClaim, ApprovalClaim } from "../../schemas/access-token.ts";
import type { RequestedGrant } from "../../schemas/approval.ts";
import { AGENT_USE_CASE_TYPE } from "../../schemas/authorization-details.ts";

/**
 * The RFC 9068 claim set for a grant. Pure, so the claims can be tested without keys. `jkt`: the DPoP key's RFC 7638
 * thumbprint, for a sender-constrained token (RFC 9449 §6.1 `cnf.jkt`). `agentAuth`: how the agent authenticated,
 * when it was a workload identity (docs/workload-identity.md). `act`: for a delegated token (docs/delegation.md), the
 * actor chain (RFC 8693 §4.1); `client_id` is then the acting agent (RFC 9068 §2.2: the client it was issued to).
 */
export function accessTokenClaims(
  grant: RequestedGrant,
  issuer: string,
  now: Date,
  jti: string,
  approval?: ApprovalClaim,
  jkt?: string,
  agentAuth?: AgentAuthClaim,
  act?: ActClaim,
): AccessTokenClaims {
  const iat = Math.floor(now.getTime() / 1000);
  const claims: AccessTokenClaims = {
    iss: issuer,
    sub: grant.agentId,
    aud: grant.audience,
    client_id: act?.sub ?? grant.agentId,
    iat,
    nbf: iat,
    exp: iat + grant.ttlSeconds,
    jti,
    scope: grant.useCaseId,
    authorization_details: [
      { type: AGENT_USE_CASE_TYPE, use_case: grant.useCaseId, actions: grant.actions, locations: grant.locations, limits: grant.limits },
    ],
  };
  if (grant.intent !== undefined) claims.intent = grant.intent;
  if (approval !== undefined) claims.approval = approval;
  if (jkt !== undefined) claims.cnf = { jkt };
  if (agentAuth !== undefined) claims.agent_auth = agentAuth;
  if (act !== undefined) claims.act = act;
  return claims;
}
