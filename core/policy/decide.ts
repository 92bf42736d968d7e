import type { RequestedGrant } from "../../schemas/approval.ts";
import type { RequestedUseCase } from "../../schemas/authorization-details.ts";
import type { Agent, LimitValue, UseCase } from "../../schemas/policy.ts";
import type { RequestContext } from "../../schemas/token-request.ts";
import { fail, ok, type Result } from "../refusals.ts";
import type { CompiledPolicy } from "./compile-policy.ts";
import { failedCondition } from "./conditions.ts";

/** What an authenticated agent asks for, already shape-checked at the edge. */
export type UseCaseRequest = {
  scope?: string | undefined;
  authorizationDetails?: readonly RequestedUseCase[] | undefined;
  resource?: string | undefined;
  audience?: string | undefined;
  intent?: string | undefined;
  context?: RequestContext | undefined;
};

/** Everything a token for this request will say. Also what an approver will be shown (issue #3). */
export type Grant = {
  agent: Agent;
  useCase: UseCase;
  audience: string;
  actions: string[];
  locations: string[];
  limits: Record<string, LimitValue>;
  ttlSeconds: number;
  intent?: string | undefined;
  context: RequestContext;
  /** True when the use case needs a human's approval before a token may be issued. */
  needsApproval: boolean;
};

/**
 * Deny by default: every check must pass for a grant to come out. Pure: the same policy, request and `now`
 * always give the same answer, so each rule is unit-tested without a runtime. `delegated`: the agent asks as an
 * actor for another (core/policy/delegation.ts narrows the grant further); a use case whose delegation is
 * `"required"` is refused to anyone else.
 */
export function decide(
  policy: CompiledPolicy,
  agentId: string,
  request: UseCaseRequest,
  now: Date,
  options: { delegated?: boolean } = {},
): Result<Grant> {
  const agent = policy.agents.get(agentId);
  // Identity checks ran against this same policy, so an unknown agent here is a caller bug, not input.
  if (!agent) throw new TypeError(`decide() called for unknown agent ${agentId}`);
  if (agent.status !== "active") return fail({ code: "agent_disabled" });

  const selected = selectUseCase(request);
  if (!selected.ok) return selected;
  const { useCaseId, narrowing } = selected.value;

  const useCase = policy.useCases.get(useCaseId);
  if (!useCase) return fail({ code: "unknown_use_case", useCase: useCaseId });
  if (!useCase.agents.includes(agentId)) return fail({ code: "use_case_not_allowed", useCase: useCaseId });
  if (useCase.delegation?.mode === "required" && options.delegated !== true)
    return fail({ code: "delegation_required", useCase: useCaseId });

  const audience = selectAudience(useCase, request);
  if (!audience.ok) return audience;

  const actions = narrowing?.actions ?? useCase.actions;
  const extraAction = actions.find((a) => !useCase.actions.includes(a));
  if (extraAction !== undefined) return fail({ code: "action_not_allowed", action: extraAction });
  if (actions.length === 0)
    return fail({ code: "invalid_authorization_details", detail: "authorization_details[0].actions: must request at least one action" });
  const locations = narrowing?.locations ?? useCase.locations;
  const extraLocation = locations.find((l) => !useCase.locations.includes(l));
  if (extraLocation !== undefined) return fail({ code: "location_not_allowed", location: extraLocation });

  const patterns = policy.contextPatterns.get(useCase.id) ?? new Map<string, RegExp>();
  const failed = failedCondition(useCase.conditions, patterns, request, now);
  if (failed) return fail(failed);

  return ok({
    agent,
    useCase,
    audience: audience.value,
    actions: [...actions],
    locations: [...locations],
    limits: useCase.limits,
    ttlSeconds: useCase.max_ttl_seconds,
    intent: request.intent,
    context: request.context ?? {},
    needsApproval: useCase.approval !== undefined,
  });
}

/** The serialisable part of a grant: what the token will say, what approvers see and what an approval is bound to. */
export function requestedGrant(grant: Grant): RequestedGrant {
  const requested: RequestedGrant = {
    agentId: grant.agent.id,
    useCaseId: grant.useCase.id,
    audience: grant.audience,
    actions: grant.actions,
    locations: grant.locations,
    limits: grant.limits,
    ttlSeconds: grant.ttlSeconds,
    context: grant.context,
  };
  if (grant.intent !== undefined) requested.intent = grant.intent;
  return requested;
}

/** RFC 9396 §3.1 lets scope and authorization_details travel together; here they must then name the same use case. */
function selectUseCase(request: UseCaseRequest): Result<{ useCaseId: string; narrowing?: RequestedUseCase }> {
  const scopes = request.scope?.split(" ").filter(Boolean) ?? [];
  const details = request.authorizationDetails ?? [];
  if (scopes.length > 1 || details.length > 1) return fail({ code: "several_use_cases" });
  const [scope] = scopes;
  const [detail] = details;
  if (scope !== undefined && detail !== undefined && scope !== detail.use_case) return fail({ code: "scope_mismatch" });
  if (detail !== undefined) return ok({ useCaseId: detail.use_case, narrowing: detail });
  if (scope !== undefined) return ok({ useCaseId: scope });
  return fail({ code: "no_use_case" });
}

/** RFC 8707 `resource` and RFC 8693 `audience` both name the service; a token has exactly one. */
function selectAudience(useCase: UseCase, request: UseCaseRequest): Result<string> {
  if (request.resource !== undefined && request.audience !== undefined && request.resource !== request.audience)
    return fail({ code: "invalid_target", detail: "resource and audience name different services" });
  const wanted = request.resource ?? request.audience ?? useCase.audiences[0];
  if (wanted === undefined || !useCase.audiences.includes(wanted)) return fail({ code: "audience_not_allowed", audience: wanted ?? "" });
  return ok(wanted);
}
