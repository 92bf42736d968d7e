import type { EnrolmentReason } from "../../../core/refusals.ts";
import { invalidRequest, type WireMap } from "./wire-map.ts";

/** The enrolment page's script reads `error` as the problem's name, so link and ceremony problems keep theirs. */
export const ENROLMENT_WIRE: WireMap<EnrolmentReason> = {
  enrolment_request_invalid: (reason) => invalidRequest(`send JSON ${reason.expected}`),
  not_an_approver: (reason) => invalidRequest(`${reason.email} is not an approver of any use case in the policy`),
  passkey_unverified: () => invalidRequest("the passkey could not be verified"),
  enrolment_link_unknown: () => ({ status: 404, error: "unknown_link", error_description: "this enrolment link is not valid" }),
  enrolment_link_used: () => ({ status: 410, error: "link_used", error_description: "this enrolment link has already been used" }),
  enrolment_link_expired: () => ({ status: 410, error: "expired", error_description: "this enrolment link has expired" }),
  enrolment_challenge_stale: () => ({
    status: 400,
    error: "stale_challenge",
    error_description: "the passkey ceremony took too long or was restarted; reload the page and try again",
  }),
  credential_exists: () => ({ status: 409, error: "credential_exists", error_description: "this passkey is already enrolled" }),
};
