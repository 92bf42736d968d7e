import type { ServiceReason } from "../../../core/refusals.ts";
import { invalidRequest, type WireError, type WireMap } from "./wire-map.ts";

/** RFC 6750 §3: a 401 carries a challenge for the bearer credential these endpoints take. */
const CHALLENGE = { "WWW-Authenticate": 'Bearer realm="writ"' };
const invalidToken = (status: 401 | 404, description: string): WireError => ({
  status,
  error: "invalid_token",
  error_description: description,
  ...(status === 401 ? { headers: CHALLENGE } : {}),
});

/** /introspect, /revoke and /usage: RFC 6749 §5.2 bodies, RFC 7662 §2.1 and RFC 7009 §2.1 caller authentication. */
export const SERVICE_WIRE: WireMap<ServiceReason> = {
  invalid_client: (reason) => ({
    status: 401,
    error: "invalid_client",
    error_description: `${reason.endpoint} needs a service credential or the admin token`,
    headers: CHALLENGE,
  }),
  form_body_required: () => invalidRequest("form body required"),
  token_type_hint_unsupported: () => ({
    status: 400,
    error: "unsupported_token_type",
    error_description: "only access tokens can be revoked",
  }),
  json_content_type_required: () => invalidRequest("Content-Type must be application/json"),
  json_body_unreadable: (reason) => invalidRequest(`body must be UTF-8 JSON of at most ${reason.limitBytes} bytes`),
  json_body_malformed: () => invalidRequest("body is not JSON"),
  usage_report_invalid: (reason) => invalidRequest(`invalid usage report: ${reason.path}`),
  // Only the token's own service may rewrite what it cost: the agent could otherwise lift its own daily caps.
  usage_service_required: () => ({
    status: 401,
    error: "invalid_client",
    error_description: "usage is reported by the service the token was issued for, with its credential",
    headers: CHALLENGE,
  }),
  usage_token_invalid: () => invalidToken(401, "the token is not a valid token of this broker for this service"),
  usage_token_unknown: () => invalidToken(404, "no record of this token (older than the usage window)"),
};
