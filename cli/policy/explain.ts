import type { CompiledPolicy } from "../../core/policy/compile-policy.ts";
import { withinTimeWindows } from "../../core/policy/conditions.ts";
import { decide, type UseCaseRequest } from "../../core/policy/decide.ts";
import type { Reason } from "../../core/refusals.ts";
import { DAY_MS, MINUTE_MS, utcDateTime } from "../../lib/time.ts";
import { AGENT_USE_CASE_TYPE } from "../../schemas/authorization-details.ts";
import { type Budget, MAX_CONTEXT_VALUE_CHARS, type TimeWindow, type UseCase } from "../../schemas/policy.ts";
import type { RequestContext } from "../../schemas/token-request.ts";

/** What `writ policy explain` is asked: the request an agent would send, and when. */
export type ExplainRequest = {
  agentId: string;
  useCaseId: string;
  intent?: string | undefined;
  context?: RequestContext | undefined;
  resource?: string | undefined;
  actions?: readonly string[] | undefined;
  locations?: readonly string[] | undefined;
  at: Date;
};

/** One rule as it was checked: `fix` says what would pass it (a narrower request, a context value, a policy edit). */
export type Step = { rule: string; outcome: "pass" | "fail" | "note"; detail: string; fix?: string };

export type Explanation = {
  steps: Step[];
  /** The broker's own decision (`core/policy/decide.ts`), which the steps explain; `undefined` for an unknown agent. */
  verdict: { allowed: true; needsApproval: boolean } | { allowed: false; reason: Reason | { code: "unknown_agent" } };
};

/**
 * A dry run of the token decision: the verdict is `decide()` itself, so it cannot drift from what the broker does;
 * the steps walk the same rules in the same order and go on past the first failure, so that one run names
 * everything a request must change. Budgets and the kill switch are run-time state and only listed.
 *
 * @example
 * explain(policy, { agentId: "support-bot", useCaseId: "crm.customers.export", at: new Date() }).verdict
 * // { allowed: false, reason: { code: "context_missing", key: "ticket" } }
 */
export function explain(policy: CompiledPolicy, request: ExplainRequest): Explanation {
  const steps: Step[] = [];
  const agent = policy.agents.get(request.agentId);
  if (!agent) {
    steps.push({
      rule: "agent",
      outcome: "fail",
      detail: `"${request.agentId}" is not an agent of this policy`,
      fix: `agents of this policy: ${[...policy.agents.keys()].join(", ") || "(none)"}`,
    });
    return { steps, verdict: { allowed: false, reason: { code: "unknown_agent" } } };
  }
  const agentIndex = policy.document.agents.findIndex((a) => a.id === agent.id);
  steps.push(
    agent.status === "active"
      ? { rule: "agent", outcome: "pass", detail: `${agent.id}: status active (the run-time kill switch is not visible to a dry run)` }
      : {
          rule: "agent",
          outcome: "fail",
          detail: `${agent.id}: status "${agent.status}" in the policy`,
          fix: `set agents[${agentIndex}].status to "active" and deploy`,
        },
  );

  const useCase = policy.useCases.get(request.useCaseId);
  const allowedHere = [...policy.useCases.values()].filter((u) => u.agents.includes(agent.id)).map((u) => u.id);
  if (!useCase) {
    steps.push({
      rule: "use case",
      outcome: "fail",
      detail: `"${request.useCaseId}" is not a use case of this policy`,
      fix: `use cases ${agent.id} may ask for: ${allowedHere.join(", ") || "(none)"}`,
    });
  } else {
    const index = policy.document.use_cases.findIndex((u) => u.id === useCase.id);
    steps.push(
      useCase.agents.includes(agent.id)
        ? { rule: "use case", outcome: "pass", detail: `${useCase.id} lists ${agent.id} among its agents` }
        : {
            rule: "use case",
            outcome: "fail",
            detail: `${useCase.id} does not list ${agent.id} among its agents`,
            fix: `ask for one of ${allowedHere.join(", ") || "(none)"}, or add "${agent.id}" to use_cases[${index}].agents`,
          },
    );
    steps.push(...useCaseSteps(policy, useCase, request));
    steps.push(...budgetNotes(agent.budget, useCase.budget));
  }

  const decided = decide(policy, agent.id, useCaseRequest(request), request.at);
  return {
    steps,
    verdict: decided.ok ? { allowed: true, needsApproval: decided.value.needsApproval } : { allowed: false, reason: decided.reason },
  };
}

/** The request as the broker's edge would hand it to `decide`: narrowed requests travel as authorization_details. */
function useCaseRequest(request: ExplainRequest): UseCaseRequest {
  const narrowed = request.actions !== undefined || request.locations !== undefined;
  return {
    ...(narrowed
      ? {
          authorizationDetails: [
            {
              type: AGENT_USE_CASE_TYPE,
              use_case: request.useCaseId,
              ...(request.actions === undefined ? {} : { actions: [...request.actions] }),
              ...(request.locations === undefined ? {} : { locations: [...request.locations] }),
            },
          ],
        }
      : { scope: request.useCaseId }),
    resource: request.resource,
    intent: request.intent,
    context: request.context,
  };
}

function useCaseSteps(policy: CompiledPolicy, useCase: UseCase, request: ExplainRequest): Step[] {
  const steps: Step[] = [];
  const audience = request.resource ?? useCase.audiences[0];
  steps.push(
    audience !== undefined && useCase.audiences.includes(audience)
      ? {
          rule: "audience",
          outcome: "pass",
          detail: `${audience}${request.resource === undefined ? " (the use case's first audience)" : ""}`,
        }
      : {
          rule: "audience",
          outcome: "fail",
          detail: `${audience} is not an audience of ${useCase.id}`,
          fix: `--resource one of ${useCase.audiences.join(", ")}`,
        },
  );
  steps.push(subsetStep("actions", request.actions, useCase.actions, "--action"));
  steps.push(subsetStep("locations", request.locations, useCase.locations, "--location"));

  const windows = useCase.conditions.time_windows;
  if (windows) {
    const inside = withinTimeWindows(windows, request.at);
    const next = inside ? undefined : nextOpening(windows, request.at);
    steps.push({
      rule: "time windows",
      outcome: inside ? "pass" : "fail",
      detail: `${windows.map(describeWindow).join("; ")}; at ${utcDateTime(request.at.getTime(), "minute")} ${inside ? "inside" : "outside"}`,
      ...(next === undefined ? {} : { fix: `ask from ${utcDateTime(next, "minute")} (try --at ${new Date(next).toISOString()})` }),
    });
  }

  const patterns = policy.contextPatterns.get(useCase.id) ?? new Map<string, RegExp>();
  const context = request.context ?? {};
  for (const [key, rule] of Object.entries(useCase.conditions.context)) {
    const sent = Object.hasOwn(context, key) ? context[key] : undefined;
    const pattern = patterns.get(key);
    const shape = rule.pattern === undefined ? "<any value>" : `<value matching ^(?:${rule.pattern})$>`;
    if (sent === undefined) {
      steps.push(
        rule.required
          ? { rule: `context.${key}`, outcome: "fail", detail: "required, not sent", fix: `--context ${key}=${shape}` }
          : { rule: `context.${key}`, outcome: "note", detail: "optional, not sent" },
      );
      continue;
    }
    const text = String(sent);
    const matches = pattern === undefined || (text.length <= MAX_CONTEXT_VALUE_CHARS && pattern.test(text));
    steps.push(
      matches
        ? { rule: `context.${key}`, outcome: "pass", detail: `${JSON.stringify(sent)}${pattern ? ` matches ^(?:${rule.pattern})$` : ""}` }
        : {
            rule: `context.${key}`,
            outcome: "fail",
            detail: `${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)} does not match ^(?:${rule.pattern})$${text.length > MAX_CONTEXT_VALUE_CHARS ? ` (longer than ${MAX_CONTEXT_VALUE_CHARS} characters)` : ""}`,
            fix: `--context ${key}=${shape}`,
          },
    );
  }
  for (const key of Object.keys(context).filter((k) => !Object.hasOwn(useCase.conditions.context, k)))
    steps.push({ rule: `context.${key}`, outcome: "note", detail: "no condition on it: carried into the token as sent" });

  if (useCase.conditions.intent === "required")
    steps.push(
      request.intent
        ? { rule: "intent", outcome: "pass", detail: "required, stated" }
        : {
            rule: "intent",
            outcome: "fail",
            detail: "required, not stated",
            fix: '--intent "<what the agent is about to do, for the record and the approvers>"',
          },
    );

  const approval = useCase.approval;
  if (approval)
    steps.push({
      rule: "approval",
      outcome: "note",
      detail: `a human must approve each request: ${approval.quorum} of ${approval.approvers.join(", ")}${
        Object.keys(approval.groups).length > 0 ? ` (groups: ${Object.keys(approval.groups).join(", ")})` : ""
      }, within ${approval.request_ttl_seconds} s`,
      fix: `writ token get ${request.agentId} ${useCase.id} --wait starts one and waits for it`,
    });
  steps.push({ rule: "token", outcome: "note", detail: `lives at most ${useCase.max_ttl_seconds} s` });
  return steps;
}

/** A narrowing may only drop what the use case allows, never add to it. */
function subsetStep(name: "actions" | "locations", asked: readonly string[] | undefined, allowed: readonly string[], flag: string): Step {
  if (asked === undefined)
    return { rule: name, outcome: "pass", detail: allowed.length > 0 ? `${allowed.join(", ")} (all the use case allows)` : "(none)" };
  const extra = asked.filter((a) => !allowed.includes(a));
  if (extra.length > 0)
    return {
      rule: name,
      outcome: "fail",
      detail: `${extra.join(", ")} not allowed`,
      fix: `narrow to ${allowed.length > 0 ? allowed.map((a) => `${flag} ${a}`).join(" ") : `no ${name}`} (or leave ${flag} out for all of them)`,
    };
  if (asked.length === 0 && name === "actions")
    return { rule: name, outcome: "fail", detail: "none asked", fix: `${flag} one of ${allowed.join(", ")}` };
  return { rule: name, outcome: "pass", detail: `${asked.join(", ")} (narrowed from ${allowed.join(", ") || "none"})` };
}

function budgetNotes(agentBudget: Budget | undefined, useCaseBudget: Budget | undefined): Step[] {
  const notes: Step[] = [];
  for (const [whose, budget] of [
    ["agent", agentBudget],
    ["use case", useCaseBudget],
  ] as const) {
    if (budget === undefined) continue;
    const parts = [
      budget.rate ? `${budget.rate.per_minute}/min (burst ${budget.rate.burst ?? budget.rate.per_minute})` : undefined,
      budget.daily?.tokens === undefined ? undefined : `${budget.daily.tokens} tokens/day`,
      ...Object.entries(budget.daily?.units ?? {}).map(([unit, n]) => `${n} ${unit}/day`),
    ].filter((p) => p !== undefined);
    notes.push({ rule: `${whose} budget`, outcome: "note", detail: `${parts.join(", ")}: spent at run time, checked by the broker` });
  }
  return notes;
}

function describeWindow(window: TimeWindow): string {
  return `${window.days.join(",")} ${window.start}–${window.end} UTC`;
}

/** The next minute, within a week, at which a window opens; undefined when none does. */
function nextOpening(windows: readonly TimeWindow[], at: Date): number | undefined {
  const dayStart = Math.floor(at.getTime() / DAY_MS) * DAY_MS;
  const openings = windows.flatMap((w) =>
    Array.from({ length: 8 }, (_, d) => {
      const [hours, minutes] = w.start.split(":").map(Number) as [number, number];
      return dayStart + d * DAY_MS + (hours * 60 + minutes) * MINUTE_MS;
    }).filter((t) => t > at.getTime() && withinTimeWindows([w], new Date(t))),
  );
  return openings.length > 0 ? Math.min(...openings) : undefined;
}
