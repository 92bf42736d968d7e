/** Refusals of passkey enrolment's JSON endpoints (the admin's link request and the WebAuthn ceremony). */
export type EnrolmentReason =
  | { code: "enrolment_request_invalid"; expected: string }
  | { code: "not_an_approver"; email: string }
  | { code: "passkey_unverified" }
  | { code: "enrolment_link_unknown" }
  | { code: "enrolment_link_used" }
  | { code: "enrolment_link_expired" }
  | { code: "enrolment_challenge_stale" }
  | { code: "credential_exists" };
