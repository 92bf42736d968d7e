import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ApprovalProblem } from "../../core/refusals.ts";
import type { ApprovalStatus } from "../../schemas/approval.ts";
import { type RenderedPage, renderMessage } from "./layout.tsx";

/** What an approver sees after acting on a link: the decision recorded, or why nothing was. */

const PROBLEMS: Record<ApprovalProblem, { status: ContentfulStatusCode; title: string; message: string }> = {
  unknown_link: {
    status: 404,
    title: "Link not recognised",
    message: "This link does not match any request. Check that you opened the whole link from the email.",
  },
  link_used: {
    status: 410,
    title: "Link already used",
    message: "This link has already been used to record a decision. Each link works once.",
  },
  expired: {
    status: 410,
    title: "Request expired",
    message: "Nobody decided in time, so the request expired. The agent has to ask again.",
  },
  cancelled: {
    status: 410,
    title: "Request cancelled",
    message: "The request was withdrawn before it was decided. Nothing is needed from you.",
  },
  decided: {
    status: 410,
    title: "Already decided",
    message: "Other approvers have already decided this request. Nothing is needed from you.",
  },
  already_decided: { status: 410, title: "Already decided", message: "You have already recorded your decision on this request." },
  bad_nonce: {
    status: 400,
    title: "This page is out of date",
    message: "The form was older than 10 minutes or was altered. Open the link from the email again and decide on the fresh page.",
  },
  not_an_approver: { status: 403, title: "Not allowed", message: "You are not one of the approvers of this request." },
  owner_barred: {
    status: 403,
    title: "Not allowed: you own this agent",
    message: "Separation of duties: the owner of an agent may not approve its requests. Another approver has to decide.",
  },
  auth_required: {
    status: 403,
    title: "Stronger sign-in needed",
    message:
      "Approving this request needs a passkey or your organisation's Cloudflare Access sign-in, not just the emailed link. Nothing was recorded.",
  },
  passkey_failed: {
    status: 403,
    title: "Passkey not accepted",
    message: "The passkey check failed, so nothing was recorded. Open the link again and retry.",
  },
  access_failed: {
    status: 403,
    title: "Sign-in not accepted",
    message: "Your Cloudflare Access sign-in could not be verified for this approver, so nothing was recorded.",
  },
  access_not_configured: {
    status: 503,
    title: "Approvals are misconfigured",
    message:
      "This request needs Cloudflare Access sign-in, which is not configured on this broker. Nothing was recorded; tell the administrator.",
  },
  bad_request: {
    status: 400,
    title: "Bad request",
    message: "The form that was sent could not be read. Open the link from the email again.",
  },
  unavailable: {
    status: 503,
    title: "Try again shortly",
    message: "A check could not be completed right now. Nothing was recorded; try again in a minute.",
  },
  not_found: { status: 404, title: "Not found", message: "There is nothing here." },
};

export function renderProblem(problem: ApprovalProblem): RenderedPage {
  return renderMessage({ ...PROBLEMS[problem], note: `Reason: ${problem}` });
}

/** After a recorded decision: what it did to the request. */
export function renderDecided(decision: "approve" | "deny", status: ApprovalStatus): RenderedPage {
  const title = decision === "deny" ? "Denied" : status === "approved" ? "Approved" : "Approval recorded";
  const message =
    status === "approved"
      ? "The request is approved. The agent can now collect its token for exactly what was shown."
      : status === "denied"
        ? "The request is denied. The agent will be told and gets no token."
        : "Your approval is recorded. The request still needs more approvals before the agent gets a token.";
  return renderMessage({ status: 200, title, message, note: "You can close this page. The link in the email no longer works." });
}
