import * as z from "zod";
import { AGENT_USE_CASE_TYPE, GrantedUseCaseSchema } from "./authorization-details.ts";

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

/**
 * `AccessTokenClaimsSchema.safeParse`, with a hand-written check in front for the shape the broker signs: every
 * verified token goes through here, and zod's general-purpose parse was most of the verifier's cost over jose's.
 * The check only ever says yes to values the schema accepts, and gives them back unchanged where the schema would
 * give back an equal copy; anything else (every refusal, unknown members the schema strips, `__proto__` keys) goes
 * to the schema, so what is accepted and every refusal message stay the schema's.
 */
export function parseAccessTokenClaims(value: unknown): z.ZodSafeParseResult<AccessTokenClaims> {
  if (isPlainAccessTokenClaims(value)) return { success: true, data: value };
  return AccessTokenClaimsSchema.safeParse(value);
}

type Record_ = Record<string, unknown>;
const isObject = (value: unknown): value is Record_ => typeof value === "object" && value !== null && !Array.isArray(value);
const isText = (value: unknown): value is string => typeof value === "string" && value.length > 0;
const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === "string");
/** z.object strips members it does not name: only an object with exactly the named ones comes back unchanged. */
const hasOnly = (value: Record_, names: readonly string[]): boolean => Object.keys(value).every((key) => names.includes(key));
/** zod drops an own `__proto__` member from loose objects and records; the schema handles those. */
const hasProtoKey = (value: Record_): boolean => Object.hasOwn(value, "__proto__");

const GRANTED_KEYS = ["type", "use_case", "actions", "locations", "limits"] as const;
const APPROVAL_KEYS = ["id", "approved_by", "approved_at", "request_hash"] as const;
const AGENT_AUTH_KEYS = ["method", "iss", "sub"] as const;

/** No wider than `AccessTokenClaimsSchema`, member by member (test/verifier/claims-fast-path.test.ts holds it to that). */
function isPlainAccessTokenClaims(value: unknown): value is AccessTokenClaims {
  if (!isObject(value) || hasProtoKey(value)) return false;
  const v = value;
  if (!isText(v.iss) || !isText(v.sub) || !isText(v.aud) || !isText(v.client_id) || !isText(v.jti) || !isText(v.scope)) return false;
  if (!Number.isSafeInteger(v.iat) || !Number.isSafeInteger(v.nbf) || !Number.isSafeInteger(v.exp)) return false;
  const details = v.authorization_details;
  if (!Array.isArray(details) || details.length !== 1 || !isPlainGrantedUseCase(details[0])) return false;
  if (v.intent !== undefined && typeof v.intent !== "string") return false;
  if (v.approval !== undefined && !isPlainApproval(v.approval)) return false;
  if (v.cnf !== undefined && !(isObject(v.cnf) && hasOnly(v.cnf, ["jkt"]) && isText(v.cnf.jkt))) return false;
  if (v.agent_auth !== undefined && !isPlainAgentAuth(v.agent_auth)) return false;
  return v.act === undefined || isPlainAct(v.act);
}

function isPlainGrantedUseCase(value: unknown): boolean {
  if (!isObject(value) || !hasOnly(value, GRANTED_KEYS)) return false;
  if (value.type !== AGENT_USE_CASE_TYPE || !isText(value.use_case) || !isStrings(value.actions) || !isStrings(value.locations))
    return false;
  const { limits } = value;
  if (!isObject(limits) || hasProtoKey(limits)) return false;
  for (const key in limits) {
    if (!Object.hasOwn(limits, key)) return false;
    const limit = limits[key];
    if (!(typeof limit === "string" || typeof limit === "boolean" || (typeof limit === "number" && Number.isFinite(limit)))) return false;
  }
  return true;
}

function isPlainApproval(value: unknown): boolean {
  if (!isObject(value) || !hasOnly(value, APPROVAL_KEYS)) return false;
  if (!isText(value.id) || !Number.isSafeInteger(value.approved_at)) return false;
  if (!isStrings(value.approved_by) || value.approved_by.length === 0) return false;
  return value.request_hash === undefined || typeof value.request_hash === "string";
}

function isPlainAgentAuth(value: unknown): boolean {
  return (
    isObject(value) && hasOnly(value, AGENT_AUTH_KEYS) && value.method === "workload_identity" && isText(value.iss) && isText(value.sub)
  );
}

/** The schema's loose `act`: each hop an object with a non-empty `sub`, at most 8 hops. */
function isPlainAct(value: unknown): boolean {
  let hop: unknown = value;
  for (let depth = 1; depth <= 8; depth++) {
    if (!isObject(hop) || hasProtoKey(hop) || !isText(hop.sub)) return false;
    hop = hop.act;
    if (hop === undefined) return true;
  }
  return false;
}
export type ApprovalClaim = z.infer<typeof ApprovalClaimSchema>;
export type AgentAuthClaim = z.infer<typeof AgentAuthClaimSchema>;
