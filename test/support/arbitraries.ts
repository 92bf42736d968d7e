/**
 * fast-check generators for what an agent puts in a token request: scopes, RFC 9396 authorization_details, RFC 8707
 * targets, context and intent, drawn both from a policy's own names and from names just outside it (another case,
 * a trailing slash, a path that climbs out). Shape-valid values for the pure core, and wire text (any JSON, broken
 * JSON, oversized values) for the endpoints.
 */
import fc from "fast-check";
import type { Policy } from "../../schemas/policy.ts";

/** The names a policy uses, which requests then pick from (and from the near misses next to them). */
export type Vocabulary = {
  useCases: readonly string[];
  audiences: readonly string[];
  actions: readonly string[];
  locations: readonly string[];
  contextKeys: readonly string[];
  /** Context patterns, so that generated values often match them. */
  patterns: readonly string[];
};

/** Every name of a policy document, deduplicated. */
export function vocabularyOf(policy: Policy): Vocabulary {
  const all = (pick: (useCase: Policy["use_cases"][number]) => readonly string[]) => [...new Set(policy.use_cases.flatMap(pick))];
  return {
    useCases: all((u) => [u.id]),
    audiences: all((u) => u.audiences),
    actions: all((u) => u.actions),
    locations: all((u) => u.locations),
    contextKeys: all((u) => Object.keys(u.conditions.context)),
    patterns: all((u) => Object.values(u.conditions.context).flatMap((rule) => (rule.pattern === undefined ? [] : [rule.pattern]))),
  };
}

/** A name from the list, or one that only looks like it: what an attacker tries first. */
function nearly(names: readonly string[], outsiders: readonly string[]): fc.Arbitrary<string> {
  const near = names.flatMap((name) => [name.toUpperCase(), `${name}/`, ` ${name}`, `${name}/../admin`, `${name}\u0000`]);
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...names) },
    { weight: 2, arbitrary: fc.constantFrom(...outsiders, ...near) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 24 }) },
  );
}

/** Present two times in three. */
const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined, freq: 3 });
/** Present one time in `1 + absentWeight`. */
const sometimes = <T>(arbitrary: fc.Arbitrary<T>, absentWeight: number) =>
  fc.oneof({ weight: absentWeight, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });

export const useCaseName = (v: Vocabulary) => nearly(v.useCases, ["openid", "admin", "crm.customers.*"]);
export const targetName = (v: Vocabulary) => nearly(v.audiences, ["https://evil.example.com", "http://localhost:8787"]);
const actionName = (v: Vocabulary) => nearly(v.actions, ["admin", "*", "delete"]);
const locationName = (v: Vocabulary) => nearly(v.locations, ["https://evil.example.com/", "*"]);

/** `scope`: one use case, several, padded, or not a use case at all. */
export function scopeArb(v: Vocabulary): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: useCaseName(v) },
    { weight: 2, arbitrary: fc.array(useCaseName(v), { minLength: 2, maxLength: 3 }).map((ids) => ids.join(" ")) },
    { weight: 1, arbitrary: useCaseName(v).map((id) => `openid ${id}`) },
    { weight: 1, arbitrary: useCaseName(v).map((id) => `  ${id}  `) },
  );
}

/** One `agent_use_case` entry of the shape the schema accepts, maybe narrowing actions and locations. */
export function detailArb(v: Vocabulary) {
  return fc.record(
    {
      type: fc.constant("agent_use_case" as const),
      use_case: useCaseName(v),
      actions: fc.uniqueArray(actionName(v), { maxLength: 3 }),
      locations: fc.uniqueArray(locationName(v), { maxLength: 3 }),
    },
    { requiredKeys: ["type", "use_case"] },
  );
}

/** Schema-valid authorization_details (RFC 9396 §2): one entry, or two (which must be refused). */
export const detailsArb = (v: Vocabulary) => fc.array(detailArb(v), { minLength: 1, maxLength: 2 });

const contextValue = (v: Vocabulary): fc.Arbitrary<string | number | boolean> =>
  fc.oneof(
    ...v.patterns.map((pattern) => ({ weight: 3, arbitrary: fc.stringMatching(new RegExp(`^(?:${pattern})$`)) })),
    { weight: 2, arbitrary: fc.string({ maxLength: 24 }) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 64 }) },
    { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.boolean()) },
  );

/** A context as the schema accepts it: flat, short values, keys from the policy, near misses and prototype names. */
export function contextArb(v: Vocabulary): fc.Arbitrary<Record<string, string | number | boolean>> {
  const key = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...v.contextKeys, "ticket") },
    { weight: 1, arbitrary: fc.constantFrom("constructor", "toString", "__proto__", "TICKET") },
  );
  return fc.dictionary(key, contextValue(v), { maxKeys: 4 });
}

/** What an agent states it is about to do, as sent: ordinary text, any Unicode, blanks, one character too many. */
export const intentTextArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "   ", "\t", "i".repeat(501)) },
);

/** An intent as the edge hands it on (`schemas/token-request.ts`: trimmed, 1 to 500 characters). */
const intentArb: fc.Arbitrary<string> = intentTextArb.map((text) => text.trim()).filter((text) => text.length >= 1 && text.length <= 500);

/** A JSON form parameter as an attacker might send it: the valid shape, any JSON, broken JSON, or too much of it. */
function jsonTextArb(valid: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: valid.map((value) => JSON.stringify(value)) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
    { weight: 1, arbitrary: fc.constantFrom("[", '{"type":', "null", "[]", "{}", '[{"type":"agent_use_case"}]') },
    { weight: 1, arbitrary: fc.constantFrom(9000, 20_000).map((size) => `"${"x".repeat(size)}"`) },
  );
}

/** authorization_details as form text, including entries with members the schema does not know. */
export function detailsTextArb(v: Vocabulary): fc.Arbitrary<string> {
  const withExtra = fc
    .tuple(detailArb(v), fc.constantFrom("limits", "max_rows", "approved", "agents"), fc.jsonValue({ maxDepth: 1 }))
    .map(([detail, name, value]) => [{ ...detail, [name]: value }]);
  return jsonTextArb(fc.oneof({ weight: 4, arbitrary: detailsArb(v) }, { weight: 1, arbitrary: withExtra }));
}

/** context as form text, including nested values, long values and too many keys. */
export function contextTextArb(v: Vocabulary): fc.Arbitrary<string> {
  const tooMuch = fc.oneof(
    fc.constant({ ticket: { $regex: ".*" } }),
    fc.constant({ ticket: "x".repeat(300) }),
    fc.constant(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]))),
  );
  return jsonTextArb(fc.oneof({ weight: 5, arbitrary: contextArb(v) }, { weight: 1, arbitrary: tooMuch }));
}

/** The use-case parameters of a request, shape-valid, as `decide` receives them after the edge: names thrown together. */
export function useCaseRequestArb(v: Vocabulary) {
  return fc.record({
    scope: optional(scopeArb(v)),
    authorizationDetails: optional(detailsArb(v)),
    resource: optional(targetName(v)),
    audience: optional(targetName(v)),
    intent: optional(intentArb),
    context: optional(contextArb(v)),
  });
}

type UseCase = Policy["use_cases"][number];

/** Strings that match a policy pattern as a whole; built once per pattern (building one costs milliseconds). */
const matchingCache = new Map<string, fc.Arbitrary<string>>();
function matching(pattern: string): fc.Arbitrary<string> {
  let arbitrary = matchingCache.get(pattern);
  if (!arbitrary) {
    arbitrary = fc.stringMatching(new RegExp(`^(?:${pattern})$`));
    matchingCache.set(pattern, arbitrary);
  }
  return arbitrary;
}

/** Context for one use case's rules: each key sent or not, its value mostly matching the rule's pattern. */
function contextFor(useCase: UseCase): fc.Arbitrary<Record<string, string>> {
  const keys = Object.entries(useCase.conditions.context).map(([key, rule]) => {
    const match = rule.pattern === undefined ? [] : [{ weight: 4, arbitrary: matching(rule.pattern) }];
    const value = fc.oneof(...match, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });
    return fc.option(fc.tuple(fc.constant(key), value), { nil: undefined, freq: 4 });
  });
  return fc.tuple(...keys).map((entries) => Object.fromEntries(entries.filter((entry) => entry !== undefined)));
}

/** One of the use case's own agents mostly, any agent of the policy sometimes. */
function agentFor(policy: Policy, useCase: UseCase): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...useCase.agents) },
    { weight: 1, arbitrary: fc.constantFrom(...policy.agents.map((a) => a.id)) },
  );
}

/** The request of `aimedRequestArb` for one use case. */
function aimedAt(policy: Policy, useCase: UseCase, vocabulary: Vocabulary) {
  return fc
    .record({
      agentId: agentFor(policy, useCase),
      via: fc.constantFrom("scope", "details", "both"),
      actions: optional(fc.subarray(useCase.actions, { minLength: 1 })),
      locations: optional(fc.subarray(useCase.locations)),
      extraAction: sometimes(actionName(vocabulary), 6),
      target: optional(
        fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...useCase.audiences) }, { weight: 1, arbitrary: targetName(vocabulary) }),
      ),
      targetAs: fc.constantFrom("resource", "audience", "both"),
      intent: optional(intentArb),
      context: optional(contextFor(useCase)),
    })
    .map(({ agentId, via, actions, locations, extraAction, target, targetAs, intent, context }) => {
      const narrowed = actions === undefined || extraAction === undefined ? actions : [...new Set([...actions, extraAction])];
      const detail = {
        type: "agent_use_case" as const,
        use_case: useCase.id,
        ...(narrowed === undefined ? {} : { actions: narrowed }),
        ...(locations === undefined ? {} : { locations }),
      };
      const request = {
        scope: via === "details" ? undefined : useCase.id,
        authorizationDetails: via === "scope" ? undefined : [detail],
        resource: targetAs === "audience" ? undefined : target,
        audience: targetAs === "resource" ? undefined : target,
        intent,
        context,
      };
      return { agentId, request };
    });
}

/**
 * A request aimed at one of the policy's use cases, as an honest agent (or one probing the edges of its grant) sends
 * it: mostly one of the use case's agents, the use case by scope, authorization_details or both, narrowed or not, a
 * target of the use case, and context that mostly meets its rules. Most of these pass the early checks, so the deep
 * rules get exercised.
 */
export function aimedRequestArb(policy: Policy, vocabulary: Vocabulary) {
  return fc.oneof(...policy.use_cases.map((useCase) => aimedAt(policy, useCase, vocabulary)));
}
