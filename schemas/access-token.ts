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

/**
 * RFC 8693 §4.1: the current actor (`sub`), and nested in it the actor before it, and so on. Writ names agents only,
 * so `sub` is an agent id. Depth is bounded by the policy (at most `MAX_DELEGATION_DEPTH`); the schema's bound (8)
 * only keeps a forged claim from nesting without end.
 */
export type ActClaim = { sub: string; act?: ActClaim };
export const ActClaimSchema: z.ZodType<ActClaim> = z
  .looseObject({
    sub: z.string().min(1),
    get act() {
      return ActClaimSchema.optional();
    },
  })
  .refine((act) => actorChain(act).length <= 8, { message: "act: nested deeper than 8" });

/** The actors of an `act` claim, nearest (the current actor) first. */
export function actorChain(act: ActClaim | undefined): string[] {
  const chain: string[] = [];
  for (let hop = act; hop !== undefined && chain.length <= 8; hop = hop.act) chain.push(hop.sub);
  return chain;
}

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
  /** Delegation (docs/delegation.md): `sub` is the agent acted for, `act.sub` the agent acting. */
  act: ActClaimSchema.optional(),
});

export type AccessTokenClaims = z.infer<typeof AccessTokenClaimsSchema>;
export type ApprovalClaim = z.infer<typeof ApprovalClaimSchema>;
export type AgentAuthClaim = z.infer<typeof AgentAuthClaimSchema>;
