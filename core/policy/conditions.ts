import type { Conditions, TimeWindow } from "../../schemas/policy.ts";
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
    const value = request.context?.[key];
    if (value === undefined) {
      if (rule.required) return { code: "context_missing", key };
      continue;
    }
    const pattern = patterns.get(key);
    if (pattern && !pattern.test(String(value))) return { code: "context_mismatch", key };
  }
  if (conditions.intent === "required" && !request.intent) return { code: "intent_required" };
  return undefined;
}
