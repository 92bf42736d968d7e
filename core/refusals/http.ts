/** HTTP-level refusals any endpoint can give: no such resource, or a method it does not serve (RFC 9110 §15.5.6). */
export type HttpReason = { code: "not_found" } | { code: "method_not_allowed"; allow: readonly string[] };
