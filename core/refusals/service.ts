/**
 * Refusals of the endpoints downstream services call: /introspect (RFC 7662), /revoke (RFC 7009) and /usage.
 * `invalid_client` keeps RFC 6749's name for what happened: the caller did not authenticate as a service or admin.
 */
export type ServiceReason =
  | { code: "invalid_client"; endpoint: "introspection" | "revocation" }
  | { code: "form_body_required" }
  | { code: "token_type_hint_unsupported" }
  | { code: "json_content_type_required" }
  | { code: "json_body_unreadable"; limitBytes: number }
  | { code: "json_body_malformed" }
  | { code: "usage_report_invalid"; path: string }
  /** /usage: the caller is not a service (no credential, the access token itself, the admin token). */
  | { code: "usage_service_required" }
  | { code: "usage_token_invalid" }
  | { code: "usage_token_unknown" };
