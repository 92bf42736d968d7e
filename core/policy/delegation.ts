import { type AccessTokenClaims, type ActClaim, actorChain } from "../../schemas/access-token.ts";
import type { Agent, LimitValue } from "../../schemas/policy.ts";
import type { NarrowingRule } from "../refusals/token.ts";
import { fail, ok, type Result } from "../refusals.ts";
import type { CompiledPolicy } from "./compile-policy.ts";
import { decide, type Grant, type UseCaseRequest } from "./decide.ts";

/**
 * A delegated grant: `grant` is what the token will say (its `agent` is the SUBJECT, the agent acted for), `actor`
 * the agent acting, `act` the chain the token carries (RFC 8693 §4.1), `parentJti` the subject token's id.
 */
export type DelegatedGrant = { grant: Grant; actor: Agent; act: ActClaim; parentJti: string };

/**
 * Narrow only (docs/delegation.md): the actor may get, for the subject of `parent` (a verified Writ access token),
 * a token of a use case the policy allows the actor, derived from the parent's use case, for the parent's service,
 * with a subset of its actions and locations, limits no larger, living no longer than the parent still does, and
 * only where the use case lets this actor act for the nearest principal (the parent's current actor, or its subject
 * when it has none) with a chain no deeper than its `max_depth`. Every
 * rule of `decide` still holds for the actor (conditions, audiences, approval). Pure, like `decide`.
 */
export function decideDelegation(
  policy: CompiledPolicy,
  parent: AccessTokenClaims,
  actorId: string,
  request: UseCaseRequest,
  now: Date,
): Result<DelegatedGrant> {
  const subject = policy.agents.get(parent.sub);
  if (!subject) return fail({ code: "subject_token_invalid", failure: "unknown_agent", detail: parent.sub.slice(0, 128) });
  if (subject.status !== "active") return fail({ code: "agent_disabled" });
  if (actorId === subject.id) return fail({ code: "delegation_not_allowed", useCase: parent.scope, rule: "actor" });

  // The parent's service unless the request names one; naming another is a widening, refused below.
  const decided = decide(policy, actorId, { ...request, audience: request.audience ?? request.resource ?? parent.aud }, now, {
    delegated: true,
  });
  if (!decided.ok) return decided;
  const asked = decided.value;
  const { useCase } = asked;
  const delegation = useCase.delegation;
  if (!delegation) return fail({ code: "delegation_not_allowed", useCase: useCase.id, rule: "forbidden" });
  const chain = actorChain(parent.act);
  // Every agent the subject token was handed through must still be on, as the subject must: a token is never
  // derived in the name of an agent the policy switched off (their kill switches are the caller's to read).
  if (chain.some((id) => policy.agents.get(id)?.status !== "active")) return fail({ code: "agent_disabled" });
  if (chain.length + 1 > delegation.max_depth) return fail({ code: "delegation_not_allowed", useCase: useCase.id, rule: "depth" });
  // The actor acts for the nearest principal: the last actor of the chain, or the subject itself. No agent twice in a chain.
  const principal = chain[0] ?? subject.id;
  if (chain.includes(actorId) || !(delegation.actors[principal] ?? []).includes(actorId))
    return fail({ code: "delegation_not_allowed", useCase: useCase.id, rule: "actor" });

  if (!(delegation.from ?? [useCase.id]).includes(parent.scope)) return widened("use_case", `use case "${useCase.id}"`);
  if (asked.audience !== parent.aud) return widened("audience", `service "${asked.audience}"`);
  const [granted] = parent.authorization_details;
  const explicit = request.authorizationDetails?.[0];
  // Asked explicitly: every action must be the parent's. Not asked: what both the use case and the parent grant.
  const actions = explicit?.actions === undefined ? asked.actions.filter((a) => granted.actions.includes(a)) : asked.actions;
  const extraAction = actions.find((a) => !granted.actions.includes(a));
  if (extraAction !== undefined) return widened("action", `action "${extraAction}"`);
  if (actions.length === 0) return widened("action", "no action of this use case");
  const locations = explicit?.locations === undefined ? asked.locations.filter((l) => granted.locations.includes(l)) : asked.locations;
  const extraLocation = locations.find((l) => !granted.locations.includes(l));
  if (extraLocation !== undefined) return widened("location", `location "${extraLocation}"`);
  const widerLimit = widerLimitOf(asked.limits, granted.limits);
  if (widerLimit !== undefined) return widened("limit", `limit "${widerLimit}"`);

  // The parent's remaining life bounds the child's: a delegated token never outlives what it was derived from.
  const remaining = parent.exp - Math.floor(now.getTime() / 1000);
  if (remaining <= 0) return fail({ code: "subject_token_invalid", failure: "expired" });
  const actor = asked.agent;
  const act: ActClaim = parent.act === undefined ? { sub: actor.id } : { sub: actor.id, act: parent.act };
  return ok({
    grant: { ...asked, agent: subject, actions, locations, ttlSeconds: Math.min(asked.ttlSeconds, remaining) },
    actor,
    act,
    parentJti: parent.jti,
  });
}

function widened(rule: NarrowingRule, detail: string): Result<never> {
  return fail({ code: "delegation_widened", rule, detail });
}

/**
 * The first limit the child has that the parent does not bound as tightly: a number above the parent's, any other
 * value different from it, or a limit the parent has and the child drops (the service would then enforce nothing).
 */
export function widerLimitOf(child: Record<string, LimitValue>, parent: Record<string, LimitValue>): string | undefined {
  for (const [name, value] of Object.entries(child)) {
    const bound = parent[name];
    if (bound === undefined) continue;
    if (typeof value === "number" && typeof bound === "number" ? value > bound : value !== bound) return name;
  }
  return Object.keys(parent).find((name) => child[name] === undefined);
}
