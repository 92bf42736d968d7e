/** Why an admin credential was not accepted; recorded as `admin_auth:<why>`, never shown beyond a coarse description. */
export type AdminAuthFailure =
  | "no_credential"
  | "bad_token"
  | "session_malformed"
  | "session_forged"
  | "session_expired"
  | "access_missing"
  | "access_invalid"
  | "access_email_mismatch"
  | "access_email_not_admin"
  | "cross_origin"
  | "token_not_configured";

/** Refusals of the admin API (/admin/…). */
export type AdminReason =
  | { code: "admin_unconfigured" }
  | { code: "admin_auth"; why: AdminAuthFailure }
  /** CSRF: a state-changing request carrying the admin's ambient credential (Access) sent from another site. */
  | { code: "cross_site_request" }
  | { code: "unknown_agent" }
  | { code: "invalid_query"; detail: string };
