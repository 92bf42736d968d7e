/**
 * HTTP-level refusals any endpoint can give: no such resource, a method it does not serve (RFC 9110 §15.5.6), or a
 * client network that has failed to authenticate too often (RFC 6585 §4), refused before any work.
 */
export type HttpReason =
  | { code: "not_found" }
  | { code: "method_not_allowed"; allow: readonly string[] }
  | { code: "too_many_failures"; retryAfterSeconds: number };
