import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { EnrolmentProblem } from "../../durable-objects/approver-passkeys.ts";
import { Layout, page, type RenderedPage, renderMessage } from "./layout.tsx";

export type EnrolmentPageInput = { email: string; token: string; passkeys: number };

/** The admin's one-time link: opening it changes nothing; the button starts the ceremony (/assets/approval.js). */
export function renderEnrolment(input: EnrolmentPageInput): RenderedPage {
  return page(
    200,
    <Layout title="Add a passkey" script>
      <h1>Add a passkey for approvals</h1>
      <p>
        Approvals for <strong id="enrol-email">{input.email}</strong> that need a passkey will ask for the one you add here.
      </p>
      <p class="muted">
        {input.passkeys === 0
          ? "You have no passkey yet."
          : `You already have ${input.passkeys} passkey${input.passkeys === 1 ? "" : "s"}.`}{" "}
        This link works once.
      </p>
      <p class="status" data-status="" role="status" aria-live="polite" />
      <button type="button" class="approve" data-enrol="" data-email={input.email} data-token={input.token}>
        Add passkey
      </button>
    </Layout>,
  );
}

const PROBLEMS: Record<EnrolmentProblem, { status: ContentfulStatusCode; title: string; message: string }> = {
  unknown_link: {
    status: 404,
    title: "Link not recognised",
    message: "This enrolment link is not valid. Ask an administrator for a new one.",
  },
  link_used: {
    status: 410,
    title: "Link already used",
    message: "This enrolment link has already added a passkey. Ask an administrator for a new one.",
  },
  expired: { status: 410, title: "Link expired", message: "This enrolment link has expired. Ask an administrator for a new one." },
};

export function renderEnrolmentProblem(problem: EnrolmentProblem): RenderedPage {
  return renderMessage(PROBLEMS[problem]);
}
