import { type Conditions, MAX_CONTEXT_VALUE_CHARS, type TimeWindow } from "../../schemas/policy.ts";
import type { RequestContext } from "../../schemas/token-request.ts";
import type { Reason } from "../refusals.ts";

const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

/** Windows are UTC so that a policy means the same thing at every edge location. */
export function withinTimeWindows(windows: readonly TimeWindow[], now: Date): boolean {
  const day = DAYS[now.getUTCDay()];
  const clock = `${String(now.getUTCHours()).padStart(2, "0")}:${String(now.getUTCMinutes()).padStart(2, "0")}`;
  return windows.some((w) => day !== undefined && w.days.includes(day) && w.start <= clock && clock < w.end);
}

/** The first condition that fails, or undefined when all hold. */
export function failedCondition(
  conditions: Conditions,
  patterns: ReadonlyMap<string, RegExp>,
  request: { intent?: string | undefined; context?: RequestContext | undefined },
  now: Date,
): Reason | undefined {
  if (conditions.time_windows && !withinTimeWindows(conditions.time_windows, now)) return { code: "outside_time_window" };
  for (const [key, rule] of Object.entries(conditions.context)) {
    // Own keys only: `constructor` or `toString` must not count as sent just because every object inherits them.
    const value = request.context !== undefined && Object.hasOwn(request.context, key) ? request.context[key] : undefined;
    if (value === undefined) {
      if (rule.required) return { code: "context_missing", key };
      continue;
    }
    const pattern = patterns.get(key);
    if (pattern === undefined) continue;
    const text = String(value);
    // The cap comes before the match: matching time grows with the value, and the agent chooses the value (ReDoS).
    if (text.length > MAX_CONTEXT_VALUE_CHARS || !pattern.test(text)) return { code: "context_mismatch", key };
  }
  if (conditions.intent === "required" && !request.intent) return { code: "intent_required" };
  return undefined;
}
