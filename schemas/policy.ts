import * as z from "zod";
import { policyId, policyRecord } from "./policy-names.ts";
import { TrustedIssuersSchema } from "./trusted-issuer.ts";

/**
 * The policy file: who the agents are, which use cases exist and who may use them.
 * It lives in git, is validated here at test, check and deploy time, and is bundled
 * into the Worker, so a deploy is the only way to change it.
 */

export const MAX_TOKEN_TTL_SECONDS = 3600;
export const DEFAULT_TOKEN_TTL_SECONDS = 300;
/**
 * The longest context value a condition's pattern is matched against. Matching time grows with the value's length,
 * so a cap bounds what even a slow pattern can cost (issue 11: ReDoS through context patterns).
 */
export const MAX_CONTEXT_VALUE_CHARS = 256;

/**
 * One spelling per person. The whole address is lower-cased: RFC 5321 §2.4 lets a mail server treat the local
 * part as case-sensitive, but no real mailbox provider does, and both Cloudflare Access and the passkey store
 * treat `Dana@x` and `dana@x` as one person, so the policy must too, or one person counts twice toward a quorum.
 * `+tags` and dots are provider-specific (Gmail ignores them, most providers do not) and are left alone:
 * `dana+ops@x` stays a different address (docs/deviations.md).
 *
 * @example normaliseEmail("Dana@Example.COM") // "dana@example.com"
 */
export function normaliseEmail(address: string): string {
  return address.trim().toLowerCase();
}

/** A person in the policy (approver, group member, owner), stored normalised so that every comparison is a plain `===`. */
const address = z.email().max(254).transform(normaliseEmail);

const id = policyId;

const regexSource = z
  .string()
  .min(1)
  .max(512)
  .refine(
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

/**
 * What an agent may consume. A rate is a token bucket over issued tokens; daily caps are rolling 24-hour
 * windows over tokens and over cost units: every token costs its numeric `limits` (a token with
 * `max_rows: 100` costs 100 `max_rows` units), until a usage report says what it really used.
 */
export const BudgetSchema = z
  .object({
    rate: z
      .object({
        per_minute: z.number().int().min(1).max(100_000),
        burst: z.number().int().min(1).max(100_000).optional(),
      })
      .strict()
      .optional(),
    daily: z
      .object({
        tokens: z.number().int().min(1).optional(),
        units: policyRecord(z.number().int().min(1)).default({}),
      })
      .strict()
      .optional(),
  })
  .strict();

export const AgentSchema = z
  .object({
    id,
    name: z.string().min(1).max(200),
    /** Who answers for this agent; issue #3 can bar owners from approving their own agent. */
    owner: address.optional(),
    status: z.enum(["active", "disabled"]).default("active"),
    keys: z.array(publicJwk).min(1),
    /** Across all of the agent's use cases. */
    budget: BudgetSchema.optional(),
    /** A usage report beyond a token's limits disables the agent at once (kill switch) instead of only being flagged. */
    disable_on_overuse: z.boolean().default(false),
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
    /**
     * Anchored by the broker: a pattern always has to match the whole value. It must match in linear time:
     * compile refuses the shapes that backtrack catastrophically, `npm run policy:check` proves the rest (recheck).
     */
    pattern: regexSource.optional(),
  })
  .strict();

export const ConditionsSchema = z
  .object({
    time_windows: z.array(TimeWindowSchema).min(1).optional(),
    context: policyRecord(ContextRuleSchema).default({}),
    intent: z.enum(["required", "optional"]).default("optional"),
  })
  .strict();

/** How an approver proves, on top of holding the emailed link, that they are who the email was for. */
export const APPROVER_AUTH_METHODS = ["passkey", "access"] as const;
export type ApproverAuthMethodName = (typeof APPROVER_AUTH_METHODS)[number];

export const ApprovalGroupSchema = z
  .object({
    members: z.array(address).min(1),
    /** Approvals this group must contribute; every group must be satisfied. */
    min: z.number().int().min(1).default(1),
  })
  .strict();

export const ApprovalSettingsSchema = z
  .object({
    /** Everyone who is emailed a link. */
    approvers: z.array(address).min(1),
    /** Distinct approvals needed; any deny ends the request. */
    quorum: z.number().int().min(1).default(1),
    groups: policyRecord(ApprovalGroupSchema).default({}),
    /** Separation of duties: by default the agent's owner cannot approve its requests. */
    owner_may_approve: z.boolean().default(false),
    /** How long approvers have to decide; separate from the granted token's TTL. */
    request_ttl_seconds: z
      .number()
      .int()
      .min(60)
      .max(7 * 24 * 3600)
      .default(900),
    /**
     * Without a lease an approved request yields one token. With one, the agent may collect tokens for the
     * very same request until the lease ends.
     */
    lease_seconds: z
      .number()
      .int()
      .min(60)
      .max(24 * 3600)
      .optional(),
    /**
     * Strong approver authentication: any one of these methods. An empty list means the emailed link alone
     * suffices, which the policy must say explicitly (`link_only: true`) because mail can be forwarded.
     */
    approver_auth: z.array(z.enum(APPROVER_AUTH_METHODS)).default(["passkey", "access"]),
    link_only: z.boolean().default(false),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.quorum > a.approvers.length)
      ctx.addIssue({ code: "custom", path: ["quorum"], message: "quorum is larger than the number of approvers" });
    // Addresses are normalised by now, so `Dana@x` and `dana@x` collide here: one person, one vote.
    for (const [i, first] of repeats(a.approvers))
      ctx.addIssue({ code: "custom", path: ["approvers", i], message: sameAddress("approvers", first, a.approvers[i]) });
    for (const [name, group] of Object.entries(a.groups)) {
      for (const [i, first] of repeats(group.members))
        ctx.addIssue({ code: "custom", path: ["groups", name, "members", i], message: sameAddress("members", first, group.members[i]) });
      group.members.forEach((member, i) => {
        if (!a.approvers.includes(member))
          ctx.addIssue({ code: "custom", path: ["groups", name, "members", i], message: `"${member}" is not one of the approvers` });
      });
      if (group.min > group.members.length)
        ctx.addIssue({ code: "custom", path: ["groups", name, "min"], message: "min is larger than the group" });
    }
    if (a.link_only !== (a.approver_auth.length === 0))
      ctx.addIssue({
        code: "custom",
        path: ["link_only"],
        message: "set link_only: true together with approver_auth: [] to let the emailed link alone approve",
      });
  });

/** [index, index of its first occurrence] for every entry that repeats an earlier one. */
function repeats(list: readonly string[]): [number, number][] {
  return list.flatMap((entry, i): [number, number][] => {
    const first = list.indexOf(entry);
    return first < i ? [[i, first]] : [];
  });
}

function sameAddress(field: string, first: number, address: string | undefined): string {
  return `"${address}" is already listed as ${field}[${first}] (addresses are compared case-insensitively): one person would count twice`;
}

const limitValue = z.union([z.number(), z.string().max(200), z.boolean()]);

/** The longest chain of actors a policy may allow (RFC 8693 §4.1 nests one `act` per hop). */
export const MAX_DELEGATION_DEPTH = 4;

/**
 * Delegation (RFC 8693 `actor_token`, docs/delegation.md): another agent acting for a token's subject may get a
 * token of this use case, charged to both. Absent: forbidden. `actors` says who may act for whom (subject agent id
 * → actor agent ids; for a second hop the key is the agent that acted first); every actor must also be one of the
 * use case's `agents`. `from`: the use cases whose tokens
 * may be narrowed into this one (default: this one only); each must be at least as wide (checked here).
 * `"required"`: tokens of this use case are issued only to a delegated request.
 */
export const DelegationSchema = z
  .object({
    mode: z.enum(["allowed", "required"]).default("allowed"),
    actors: policyRecord(z.array(id).min(1).max(64)),
    from: z.array(id).min(1).max(16).optional(),
    max_depth: z.number().int().min(1).max(MAX_DELEGATION_DEPTH).default(1),
  })
  .strict();

export const UseCaseSchema = z
  .object({
    id,
    description: z.string().min(1).max(500),
    /** The services a token may name as `aud`; the first is the default. */
    audiences: z.array(z.string().min(1).max(256)).min(1),
    actions: z.array(z.string().min(1).max(64)).min(1),
    locations: z.array(z.string().min(1).max(512)).default([]),
    /** Enforced by the downstream service, carried in the token's authorization_details. */
    limits: policyRecord(limitValue).default({}),
    max_ttl_seconds: z.number().int().min(30).max(MAX_TOKEN_TTL_SECONDS).default(DEFAULT_TOKEN_TTL_SECONDS),
    agents: z.array(id).min(1),
    conditions: ConditionsSchema.default({ context: {}, intent: "optional" }),
    /** Present means a human must approve each request. */
    approval: ApprovalSettingsSchema.optional(),
    /** Each agent's own allowance for this use case. */
    budget: BudgetSchema.optional(),
    /**
     * `"required"`: tokens are issued only to a request carrying a DPoP proof (RFC 9449), so each token is bound to
     * the agent's key and useless to whoever steals it. Default `"optional"`: bound when the agent sends a proof.
     */
    dpop: z.enum(["optional", "required"]).optional(),
    /** Absent: no agent may act for another with this use case (docs/delegation.md). */
    delegation: DelegationSchema.optional(),
  })
  .strict();

export const PolicySchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1),
    agents: z.array(AgentSchema),
    use_cases: z.array(UseCaseSchema),
    /** Federated workload identity: issuers whose JWTs authenticate agents (schemas/trusted-issuer.ts, docs/workload-identity.md). */
    trusted_issuers: TrustedIssuersSchema.default([]),
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
    policy.trusted_issuers.forEach((issuer, i) => {
      issuer.rules.forEach((rule, r) => {
        if (!agentIds.has(rule.agent))
          ctx.addIssue({ code: "custom", path: ["trusted_issuers", i, "rules", r, "agent"], message: `unknown agent "${rule.agent}"` });
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
        const approval = useCase.approval;
        const owner = policy.agents.find((agent) => agent.id === agentId)?.owner;
        // Separation of duties must not make a request impossible to approve.
        if (approval && !approval.owner_may_approve && owner && approval.approvers.filter((e) => e !== owner).length < approval.quorum)
          ctx.addIssue({
            code: "custom",
            path: ["use_cases", i, "approval", "quorum"],
            message: `agent "${agentId}" can never reach the quorum: its owner ${owner} may not approve its requests`,
          });
      });
    });
    policy.use_cases.forEach((useCase, i) => {
      for (const problem of delegationProblems(useCase, policy.use_cases, agentIds))
        ctx.addIssue({ code: "custom", path: ["use_cases", i, "delegation", ...problem.path], message: problem.message });
    });
  });

/**
 * What makes a use case's delegation rules impossible or wider than they look: unknown agents, an actor the use case
 * does not allow, an agent acting for itself, a `from` use case narrower than this one (the hop would widen).
 */
function delegationProblems(
  useCase: z.infer<typeof UseCaseSchema>,
  useCases: readonly z.infer<typeof UseCaseSchema>[],
  agentIds: ReadonlySet<string>,
): { path: (string | number)[]; message: string }[] {
  const delegation = useCase.delegation;
  if (!delegation) return [];
  const problems: { path: (string | number)[]; message: string }[] = [];
  for (const [subject, actors] of Object.entries(delegation.actors)) {
    if (!agentIds.has(subject)) problems.push({ path: ["actors", subject], message: `unknown agent "${subject}"` });
    actors.forEach((actor, a) => {
      if (!agentIds.has(actor)) problems.push({ path: ["actors", subject, a], message: `unknown agent "${actor}"` });
      else if (!useCase.agents.includes(actor))
        problems.push({ path: ["actors", subject, a], message: `agent "${actor}" may not use this use case (add it to agents)` });
      if (actor === subject) problems.push({ path: ["actors", subject, a], message: "an agent cannot act for itself" });
    });
  }
  const from = delegation.from ?? [useCase.id];
  if (delegation.mode === "required" && from.every((f) => f === useCase.id))
    problems.push({ path: ["from"], message: "with mode required, name the wider use case(s) whose tokens are narrowed into this one" });
  from.forEach((parentId, f) => {
    if (parentId === useCase.id) return;
    const parent = useCases.find((u) => u.id === parentId);
    if (!parent) {
      problems.push({ path: ["from", f], message: `unknown use case "${parentId}"` });
      return;
    }
    const wider = widerThan(useCase, parent);
    if (wider) problems.push({ path: ["from", f], message: `this use case is wider than "${parentId}": ${wider}` });
  });
  return problems;
}

/** Why `child` grants something `parent` does not, or undefined when it is the same or narrower. */
function widerThan(child: z.infer<typeof UseCaseSchema>, parent: z.infer<typeof UseCaseSchema>): string | undefined {
  const audience = child.audiences.find((a) => !parent.audiences.includes(a));
  if (audience !== undefined) return `audience "${audience}"`;
  const action = child.actions.find((a) => !parent.actions.includes(a));
  if (action !== undefined) return `action "${action}"`;
  const location = child.locations.find((l) => !parent.locations.includes(l));
  if (location !== undefined) return `location "${location}"`;
  if (child.max_ttl_seconds > parent.max_ttl_seconds) return "max_ttl_seconds";
  for (const [name, value] of Object.entries(child.limits)) {
    const bound = parent.limits[name];
    // A limit the parent does not have narrows: the parent is unbounded there.
    if (bound === undefined) continue;
    if (typeof value === "number" && typeof bound === "number" ? value > bound : value !== bound) return `limit "${name}"`;
  }
  const missing = Object.keys(parent.limits).find((name) => child.limits[name] === undefined);
  if (missing !== undefined) return `limit "${missing}" (dropped, so unbounded)`;
  return undefined;
}

export type Policy = z.infer<typeof PolicySchema>;
export type Agent = z.infer<typeof AgentSchema>;
export type AgentPublicJwk = Agent["keys"][number];
export type UseCase = z.infer<typeof UseCaseSchema>;
export type Conditions = z.infer<typeof ConditionsSchema>;
export type TimeWindow = z.infer<typeof TimeWindowSchema>;
export type LimitValue = z.infer<typeof limitValue>;
export type ApprovalSettings = z.infer<typeof ApprovalSettingsSchema>;
export type Budget = z.infer<typeof BudgetSchema>;
export type Delegation = z.infer<typeof DelegationSchema>;
