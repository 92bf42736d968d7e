import * as z from "zod";
import { GrantedUseCaseSchema } from "./authorization-details.ts";

/** RFC 9068 §2.1: the JOSE `typ` of a JWT access token, which keeps it from being confused with an ID token or an assertion. */
export const ACCESS_TOKEN_TYP = "at+jwt";

export const ApprovalClaimSchema = z.object({
  id: z.string().min(1),
  approved_by: z.array(z.string()).min(1),
  approved_at: z.number().int(),
  request_hash: z.string().optional(),
});

/**
 * How the agent authenticated, when it was not with its own registered key (private_key_jwt): a workload token
 * from a trusted issuer (docs/workload-identity.md). A service can require one or the other.
 */
export const AgentAuthClaimSchema = z.object({
  method: z.literal("workload_identity"),
  /** The workload token's issuer and subject, as the policy's trusted issuer vouched for them. */
  iss: z.string().min(1),
  sub: z.string().min(1),
});

/** Claims of a Writ access token (RFC 9068 profile). Loose, so that claims added later do not break older verifiers. */
export const AccessTokenClaimsSchema = z.looseObject({
  iss: z.string().min(1),
  sub: z.string().min(1),
  aud: z.string().min(1),
  client_id: z.string().min(1),
  iat: z.number().int(),
  nbf: z.number().int(),
  exp: z.number().int(),
  jti: z.string().min(1),
  scope: z.string().min(1),
  authorization_details: z.tuple([GrantedUseCaseSchema]),
  intent: z.string().optional(),
  approval: ApprovalClaimSchema.optional(),
  cnf: z.object({ jkt: z.string().min(1) }).optional(),
  agent_auth: AgentAuthClaimSchema.optional(),
});

export type AccessTokenClaims = z.infer<typeof AccessTokenClaimsSchema>;
export type ApprovalClaim = z.infer<typeof ApprovalClaimSchema>;
export type AgentAuthClaim = z.infer<typeof AgentAuthClaimSchema>;
