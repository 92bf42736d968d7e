import type { Context, Handler } from "hono";
import type { Outcome } from "../../core/audit/outcome.ts";
import type { Reason } from "../../core/refusals.ts";
import type { AppEnv } from "../app-env.ts";
import { note } from "../audit/note.ts";
import { errorResponse } from "./wire-error.ts";

/**
 * Requests that were not access decisions (nothing there, a wrong method, a malformed admin query, an enrolment
 * link that cannot be used): recorded as errors, like the approval pages' problems, not as denials.
 */
const NOT_A_DECISION: ReadonlySet<Reason["code"]> = new Set([
  "not_found",
  "method_not_allowed",
  "unknown_agent",
  "invalid_query",
  "enrolment_request_invalid",
  "not_an_approver",
  "passkey_unverified",
  "enrolment_link_unknown",
  "enrolment_link_used",
  "enrolment_link_expired",
  "enrolment_challenge_stale",
  "credential_exists",
]);

/**
 * The one funnel for JSON refusals: notes the reason in the request's outcome (log line and audit event) and
 * answers with its wire form. The reason's private detail goes to the record, never to the client.
 */
export function refuse(c: Context<AppEnv>, reason: Reason): Response {
  note(c, refusalFields(reason));
  const response = errorResponse(reason);
  // The contract: every error names the request, so an admin can find its audit record from what the client saw.
  const requestId = c.get("requestId") as string | undefined;
  if (requestId) response.headers.set("X-Request-Id", requestId);
  return response;
}

/** What the log line and audit event say of a refusal: the reason code and, for identity failures, which check failed (never a token). */
export function refusalFields(reason: Reason): Outcome {
  if (reason.code === "admin_auth") return { decision: "denied", reason: `admin_auth:${reason.why}`, event: "admin_auth_failure" };
  const fields: Outcome = NOT_A_DECISION.has(reason.code) ? { reason: reason.code } : { decision: "denied", reason: reason.code };
  if (reason.code === "budget_exhausted") fields.detail = reason.budget.slice(0, 128);
  if (reason.code === "delegation_widened") fields.detail = reason.detail.slice(0, 128);
  if (reason.code === "delegation_not_allowed") fields.detail = reason.rule;
  if (
    reason.code === "client_assertion_invalid" ||
    reason.code === "subject_token_invalid" ||
    reason.code === "actor_token_invalid" ||
    reason.code === "invalid_dpop_proof"
  ) {
    fields.failure = reason.failure;
    // The detail may echo attacker-chosen text (an unknown kid or iss): bounded so it cannot bloat the log.
    if (reason.detail !== undefined) fields.detail = reason.detail.slice(0, 128);
  }
  return fields;
}

/** A handler for a method an endpoint does not serve: 405 with `Allow` (RFC 9110 §15.5.6). */
export function allowOnly(...allow: string[]): Handler<AppEnv> {
  return function methodNotAllowed(c) {
    return refuse(c, { code: "method_not_allowed", allow });
  };
}
