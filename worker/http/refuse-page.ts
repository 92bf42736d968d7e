import type { Context } from "hono";
import type { ApprovalProblem } from "../../core/refusals.ts";
import type { EnrolmentProblem } from "../../durable-objects/approver-passkeys.ts";
import type { AppEnv } from "../app-env.ts";
import { note } from "../audit/note.ts";
import { renderProblem } from "../pages/approval-outcome-pages.tsx";
import { renderEnrolmentProblem } from "../pages/enrolment-page.tsx";

/**
 * The HTML side of the refusal funnel, for people at a browser (approvers following a link): the problem goes
 * to the record (as the reason, with any private detail), the page says what happened and what to do. The
 * problem pages hold each problem's status and wording; page security headers (CSP, no-store) come from the
 * routes' middleware. Not a decision: recorded as an error, like a request that could not be read.
 */
export function refusePage(c: Context<AppEnv>, problem: ApprovalProblem, detail?: string): Response {
  note(c, detail === undefined ? { reason: problem, problem } : { reason: problem, problem, detail });
  const page = renderProblem(problem);
  return c.html(page.html, page.status);
}

/** The enrolment link's page, when the link cannot be used. */
export function refuseEnrolmentPage(c: Context<AppEnv>, problem: EnrolmentProblem): Response {
  note(c, { reason: problem, problem });
  const page = renderEnrolmentProblem(problem);
  return c.html(page.html, page.status);
}
