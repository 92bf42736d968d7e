import type { AdminAuthFailure, AdminReason } from "../../../core/refusals.ts";
import { invalidRequest, type WireError, type WireMap } from "./wire-map.ts";

const CHALLENGE = 'Bearer realm="writ-admin"';

/** /admin/…: RFC 6750 §3 challenges for the admin credential, JSON errors for the rest. */
export const ADMIN_WIRE: WireMap<AdminReason> = {
  admin_unconfigured: () => ({ status: 503, error: "temporarily_unavailable", error_description: "the admin API is not configured" }),
  admin_auth: (reason) => adminAuthWire(reason.why),
  cross_site_request: () => ({
    status: 403,
    error: "access_denied",
    error_description: "cross-site request refused: admin actions must come from the broker's own pages or carry the bearer token",
  }),
  unknown_agent: () => ({ status: 404, error: "not_found", error_description: "unknown agent" }),
  invalid_query: (reason) => invalidRequest(reason.detail),
};

/**
 * RFC 6750 §3.1: a request with no credential at all gets the bare challenge, with no error code and no body; a
 * credential that was presented and refused gets `invalid_token`. Which check failed stays in the audit trail.
 */
function adminAuthWire(why: AdminAuthFailure): WireError {
  if (why === "no_credential") return { status: 401, headers: { "WWW-Authenticate": CHALLENGE } };
  const description =
    why === "bad_token"
      ? "admin bearer token rejected"
      : why.startsWith("session_")
        ? "admin session rejected"
        : "admin Access identity rejected";
  return {
    status: 401,
    error: "invalid_token",
    error_description: description,
    headers: { "WWW-Authenticate": `${CHALLENGE}, error="invalid_token"` },
  };
}
