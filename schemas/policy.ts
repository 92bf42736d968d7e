import { z } from "zod";

/**
 * The policy file: who the agents are, which use cases exist and who may use them.
 * It lives in git, is validated here at test, check and deploy time, and is bundled
 * into the Worker, so a deploy is the only way to change it.
 */

export const MAX_TOKEN_TTL_SECONDS = 3600;
export const DEFAULT_TOKEN_TTL_SECONDS = 300;

const id = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._:-]{0,127}$/, "lower-case letters, digits and . _ : - (at most 128, starting with a letter or digit)");

const regexSource = z.string().refine(
  (source) => {
    try {
      new RegExp(source, "u");
      return true;
    } catch {
      return false;
    }
  },
  { message: "not a valid regular expression" },
);

/** Public keys only: a private member here would leak an agent's key through the policy bundle. */
const publicJwk = z
  .object({
    kid: z.string().min(1).max(128),
    kty: z.enum(["EC", "OKP"]),
    crv: z.enum(["P-256", "Ed25519"]),
    x: z.string().min(1),
    y: z.string().min(1).optional(),
    alg: z.enum(["ES256", "EdDSA", "Ed25519"]).optional(),
    use: z.literal("sig").optional(),
  })
  .strict()
  .superRefine((jwk, ctx) => {
    const ec = jwk.kty === "EC";
    if (ec !== (jwk.crv === "P-256")) ctx.addIssue({ code: "custom", message: "kty EC goes with crv P-256, kty OKP with crv Ed25519" });
    if (ec && !jwk.y) ctx.addIssue({ code: "custom", path: ["y"], message: "an EC key needs y" });
    if (jwk.alg && (jwk.alg === "ES256") !== ec) ctx.addIssue({ code: "custom", path: ["alg"], message: "alg does not fit the key type" });
  });

export const AgentSchema = z
  .object({
    id,
    name: z.string().min(1).max(200),
    /** Who answers for this agent; issue #3 can bar owners from approving their own agent. */
    owner: z.email().optional(),
    status: z.enum(["active", "disabled"]).default("active"),
    keys: z.array(publicJwk).min(1),
  })
  .strict();

const day = z.enum(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "HH:MM, 24-hour, UTC");

export const TimeWindowSchema = z
  .object({
    days: z.array(day).min(1).default(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
    start: clock,
    end: clock,
  })
  .strict()
  .refine((w) => w.start < w.end, { message: "start must be before end (windows do not wrap midnight; split them)" });

export const ContextRuleSchema = z
  .object({
    required: z.boolean().default(true),
    /** Anchored by the broker: a pattern always has to match the whole value. */
    pattern: regexSource.optional(),
  })
  .strict();

export const ConditionsSchema = z
  .object({
    time_windows: z.array(TimeWindowSchema).min(1).optional(),
    context: z.record(z.string().min(1).max(64), ContextRuleSchema).default({}),
    intent: z.enum(["required", "optional"]).default("optional"),
  })
  .strict();

export const ApprovalSettingsSchema = z
  .object({
    approvers: z.array(z.email()).min(1),
    quorum: z.number().int().min(1).default(1),
  })
  .strict()
  .refine((a) => a.quorum <= a.approvers.length, { message: "quorum is larger than the number of approvers", path: ["quorum"] })
  .refine((a) => new Set(a.approvers).size === a.approvers.length, { message: "an approver is listed twice", path: ["approvers"] });

const limitValue = z.union([z.number(), z.string().max(200), z.boolean()]);

export const UseCaseSchema = z
  .object({
    id,
    description: z.string().min(1).max(500),
    /** The services a token may name as `aud`; the first is the default. */
    audiences: z.array(z.string().min(1).max(256)).min(1),
    actions: z.array(z.string().min(1).max(64)).min(1),
    locations: z.array(z.string().min(1).max(512)).default([]),
    /** Enforced by the downstream service, carried in the token's authorization_details. */
    limits: z.record(z.string().min(1).max(64), limitValue).default({}),
    max_ttl_seconds: z.number().int().min(30).max(MAX_TOKEN_TTL_SECONDS).default(DEFAULT_TOKEN_TTL_SECONDS),
    agents: z.array(id).min(1),
    conditions: ConditionsSchema.default({ context: {}, intent: "optional" }),
    /** Present means a human must approve each request (issue #3 delivers the flow). */
    approval: ApprovalSettingsSchema.optional(),
  })
  .strict();

export const PolicySchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1),
    agents: z.array(AgentSchema),
    use_cases: z.array(UseCaseSchema),
  })
  .strict()
  .superRefine((policy, ctx) => {
    const agentIds = new Set<string>();
    policy.agents.forEach((agent, i) => {
      if (agentIds.has(agent.id)) ctx.addIssue({ code: "custom", path: ["agents", i, "id"], message: `duplicate agent id "${agent.id}"` });
      agentIds.add(agent.id);
      const kids = new Set<string>();
      agent.keys.forEach((key, k) => {
        if (kids.has(key.kid))
          ctx.addIssue({ code: "custom", path: ["agents", i, "keys", k, "kid"], message: `duplicate kid "${key.kid}"` });
        kids.add(key.kid);
      });
    });
    const useCaseIds = new Set<string>();
    policy.use_cases.forEach((useCase, i) => {
      if (useCaseIds.has(useCase.id))
        ctx.addIssue({ code: "custom", path: ["use_cases", i, "id"], message: `duplicate use case id "${useCase.id}"` });
      useCaseIds.add(useCase.id);
      useCase.agents.forEach((agentId, a) => {
        if (!agentIds.has(agentId))
          ctx.addIssue({ code: "custom", path: ["use_cases", i, "agents", a], message: `unknown agent "${agentId}"` });
      });
    });
  });

export type Policy = z.infer<typeof PolicySchema>;
export type Agent = z.infer<typeof AgentSchema>;
export type AgentPublicJwk = Agent["keys"][number];
export type UseCase = z.infer<typeof UseCaseSchema>;
export type Conditions = z.infer<typeof ConditionsSchema>;
export type TimeWindow = z.infer<typeof TimeWindowSchema>;
export type LimitValue = z.infer<typeof limitValue>;
