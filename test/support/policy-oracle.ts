/**
 * The policy's rules read straight from the document, as a reviewer would check an issued token by hand: which rule
 * a grant breaks, if any. The fuzz properties hold every grant `decide` makes, and every token the broker issues,
 * against it. Written from the policy schema's documentation, not from `core/policy`, so that a bug there is not
 * repeated here.
 */
import type { Policy } from "../../schemas/policy.ts";

/** What a grant or an issued token gives: the facts a token carries. */
export type IssuedGrant = {
  agentId: string;
  useCaseId: string;
  audience: string;
  actions: readonly string[];
  locations: readonly string[];
  limits: Readonly<Record<string, unknown>>;
  ttlSeconds: number;
  intent?: string | undefined;
};

/** What the agent asked for, as the broker understood it (parsed parameters). */
export type AskedFor = {
  scope?: string | undefined;
  authorizationDetails?: readonly { use_case: string; actions?: readonly string[]; locations?: readonly string[] }[] | undefined;
  resource?: string | undefined;
  audience?: string | undefined;
  context?: Readonly<Record<string, unknown>> | undefined;
};

/**
 * What a form asked for, read back from its text: the broker parsed the same text, or it would not have granted
 * anything. `/bc-authorize` sets CIBA's `openid` scope aside (OpenID CIBA §7.1), `/token` does not.
 */
export function askedInForm(params: Readonly<Record<string, string>>, { openidSetAside = false } = {}): AskedFor {
  const json = (text: string | undefined): unknown => (text === undefined ? undefined : JSON.parse(text));
  const scope = openidSetAside
    ? params.scope
        ?.split(" ")
        .filter((s) => s && s !== "openid")
        .join(" ") || undefined
    : params.scope;
  return {
    scope,
    authorizationDetails: json(params.authorization_details) as AskedFor["authorizationDetails"],
    resource: params.resource,
    audience: params.audience,
    context: json(params.context) as AskedFor["context"],
  };
}

const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
const minutesOf = (clock: string) => Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Every rule of `policy` that `issued` breaks, as readable sentences; empty when the grant is within policy at `now`. */
export function violationsOf(policy: Policy, issued: IssuedGrant, asked: AskedFor, now: Date): string[] {
  const agent = policy.agents.find((a) => a.id === issued.agentId);
  const useCase = policy.use_cases.find((u) => u.id === issued.useCaseId);
  if (!agent || !useCase) return [`agent "${issued.agentId}" or use case "${issued.useCaseId}" is not in the policy`];
  const broken: string[] = [];
  const rule = (holds: boolean, sentence: string) => {
    if (!holds) broken.push(sentence);
  };

  rule(agent.status === "active", "the agent is disabled");
  rule(useCase.agents.includes(agent.id), "the use case does not list the agent");
  const named = [...(asked.scope?.split(" ").filter(Boolean) ?? []), ...(asked.authorizationDetails ?? []).map((d) => d.use_case)];
  rule(named.length > 0 && named.every((id) => id === useCase.id), `the request named ${JSON.stringify(named)}, not exactly this use case`);

  rule(useCase.audiences.includes(issued.audience), `audience ${issued.audience} is not one of the use case's`);
  for (const target of [asked.resource, asked.audience])
    if (target !== undefined) rule(target === issued.audience, `the request asked for ${target}, the grant names ${issued.audience}`);

  rule(issued.actions.length > 0, "the grant has no action");
  rule(
    issued.actions.every((a) => useCase.actions.includes(a)),
    "an action is not in the use case",
  );
  rule(
    issued.locations.every((l) => useCase.locations.includes(l)),
    "a location is not in the use case",
  );
  const narrowing = asked.authorizationDetails?.[0];
  if (narrowing?.actions)
    rule(
      issued.actions.every((a) => narrowing.actions?.includes(a)),
      "an action was not asked for",
    );
  if (narrowing?.locations)
    rule(
      issued.locations.every((l) => narrowing.locations?.includes(l)),
      "a location was not asked for",
    );
  rule(sameJson(issued.limits, useCase.limits), "the limits are not the use case's");
  rule(issued.ttlSeconds > 0 && issued.ttlSeconds <= useCase.max_ttl_seconds, `TTL ${issued.ttlSeconds}s is over the use case's maximum`);

  const { time_windows: windows, context, intent } = useCase.conditions;
  if (windows) {
    const day = DAY_NAMES[now.getUTCDay()] ?? "sun";
    const minute = now.getUTCHours() * 60 + now.getUTCMinutes();
    rule(
      windows.some((w) => w.days.includes(day) && minutesOf(w.start) <= minute && minute < minutesOf(w.end)),
      `${now.toISOString()} is outside every time window`,
    );
  }
  for (const [key, condition] of Object.entries(context)) {
    // Only what the agent sent counts: an inherited member ("constructor") is not a context value.
    const sent = asked.context !== undefined && Object.hasOwn(asked.context, key) ? asked.context[key] : undefined;
    if (sent === undefined) {
      rule(!condition.required, `required context "${key}" is missing`);
      continue;
    }
    if (condition.pattern !== undefined)
      rule(new RegExp(`^(?:${condition.pattern})$`, "u").test(String(sent)), `context "${key}" does not match its pattern`);
  }
  if (intent === "required") rule((issued.intent ?? "").trim().length > 0, "the use case requires an intent");
  return broken;
}
