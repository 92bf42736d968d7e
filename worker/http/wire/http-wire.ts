import type { HttpReason } from "../../../core/refusals.ts";
import type { WireMap } from "./wire-map.ts";

/** RFC 9110 §15.5.5 and §15.5.6; a 405 names the methods that would work (`Allow`); RFC 6585 §4 for 429. */
export const HTTP_WIRE: WireMap<HttpReason> = {
  not_found: () => ({ status: 404, error: "not_found", error_description: "no such endpoint" }),
  method_not_allowed: (reason) => ({
    status: 405,
    error: "invalid_request",
    error_description: `method not allowed: use ${reason.allow.join(" or ")}`,
    headers: { Allow: reason.allow.join(", ") },
  }),
  // Says neither what failed nor how many attempts are left: only when to come back.
  too_many_failures: (reason) => ({
    status: 429,
    error: "rate_limited",
    error_description: "too many failed requests from your network: retry later",
    headers: { "Retry-After": String(reason.retryAfterSeconds) },
  }),
};
