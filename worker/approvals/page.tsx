import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import type { Child, FC, PropsWithChildren } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ApprovalStatus, ApprovalView, Decision } from "../../schemas/approval.ts";

/**
 * The approver's pages, rendered on the server with hono/jsx (which escapes every text and attribute, so an
 * agent-supplied intent or context cannot inject markup). No inline script or style: the CSP forbids both;
 * the one script (/assets/approval.js) only runs the passkey ceremony when the approver clicks.
 */

export type RenderedPage = { status: ContentfulStatusCode; html: string };

/** How the Approve button proves who is clicking, decided from the policy and what this approver has. */
export type StepUp =
  | { kind: "link" }
  | { kind: "access" }
  | { kind: "passkey"; options: PublicKeyCredentialRequestOptionsJSON }
  | { kind: "unavailable"; reasons: string[] };

export type ApprovalPageInput = { view: ApprovalView; nonce: string; token: string; now: number; stepUp: StepUp };

/** Every way an approver's request can end without a decision: each has a page and an HTTP status. */
export type PageProblem =
  | "unknown_link"
  | "link_used"
  | "expired"
  | "cancelled"
  | "decided"
  | "already_decided"
  | "bad_nonce"
  | "not_an_approver"
  | "owner_barred"
  | "auth_required"
  | "passkey_failed"
  | "access_failed"
  | "access_not_configured"
  | "bad_request"
  | "unavailable"
  | "not_found";

const PROBLEMS: Record<PageProblem, { status: ContentfulStatusCode; title: string; message: string }> = {
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

export function renderProblem(problem: PageProblem): RenderedPage {
  const { status, title, message } = PROBLEMS[problem];
  return page(
    status,
    <Layout title={title}>
      <h1>{title}</h1>
      <p>{message}</p>
      <p class="muted">Reason: {problem}</p>
    </Layout>,
  );
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
  return page(
    200,
    <Layout title={title}>
      <h1>{title}</h1>
      <p>{message}</p>
      <p class="muted">You can close this page. The link in the email no longer works.</p>
    </Layout>,
  );
}

export function renderApproval(input: ApprovalPageInput): RenderedPage {
  const { view, now } = input;
  const grant = view.grant;
  const approvedCount = view.decisions.filter((d) => d.decision === "approve").length;
  return page(
    200,
    <Layout title={`Approve ${grant.useCaseId} for ${view.agentName}?`}>
      <p class="eyebrow">Approval request · {view.status}</p>
      <h1>
        <span id="agent-name">{view.agentName}</span> asks for <span id="use-case">{grant.useCaseId}</span>
      </h1>
      <p id="use-case-description">{view.useCaseDescription}</p>
      {view.bindingMessage !== undefined && (
        <p class="binding" id="binding-message">
          Code shown by the agent: <strong>{view.bindingMessage}</strong>. Approve only if it matches.
        </p>
      )}
      <section>
        <h2>Why</h2>
        <blockquote id="intent">{grant.intent ?? "(the agent gave no reason)"}</blockquote>
      </section>
      <section>
        <h2>What it gets</h2>
        <dl>
          <Row id="agent" label="Agent">
            {view.agentName} <code>{grant.agentId}</code>
          </Row>
          <Row id="owner" label="Owner">
            {view.agentOwner ?? "(none listed)"}
          </Row>
          <Row id="service" label="Service">
            <code>{grant.audience}</code>
          </Row>
          <Row id="actions" label="Actions">
            <List items={grant.actions} />
          </Row>
          <Row id="locations" label="Locations">
            {grant.locations.length === 0 ? "none named" : <List items={grant.locations} />}
          </Row>
          <Row id="limits" label="Limits">
            <Pairs record={grant.limits} empty="none" />
          </Row>
          <Row id="context" label="Context">
            <Pairs record={grant.context} empty="none" />
          </Row>
          <Row id="ttl" label="Token lifetime">
            {duration(grant.ttlSeconds)}
          </Row>
          <Row id="requested" label="Asked">
            by <code>{grant.agentId}</code> at {utc(view.requestedAt)}
          </Row>
          <Row id="expires" label="Decide by">
            {utc(view.expiresAt)} ({timeLeft(view.expiresAt - now)})
          </Row>
          <Row id="request-hash" label="Request hash">
            <code class="hash">{view.requestHash}</code>
          </Row>
        </dl>
      </section>
      <section id="approvals">
        <h2>Approvals</h2>
        <p id="quorum">
          Needs {view.quorum} approval{view.quorum === 1 ? "" : "s"} ({approvedCount} so far). Any deny ends the request.
        </p>
        {Object.entries(view.groups).map(([name, group]) => (
          <p class="group">
            Group <strong>{name}</strong>: at least {group.min} of {group.members.join(", ")}
          </p>
        ))}
        <ul class="approvers">
          {view.approvers.map((approver) => (
            <li>
              {approver}
              {approver === view.viewer ? " (you)" : ""}: <Vote decision={view.decisions.find((d) => d.approver === approver)} />
            </li>
          ))}
        </ul>
      </section>
      <Decide {...input} />
      <p class="muted">This link was sent to {view.viewer} and works once. Opening it changes nothing; only the buttons do.</p>
    </Layout>,
  );
}

const Decide: FC<ApprovalPageInput> = ({ view, nonce, token, stepUp }) => {
  const action = `/approvals/${encodeURIComponent(view.approvalId)}`;
  const hidden = (
    <>
      <input type="hidden" name="t" value={token} />
      <input type="hidden" name="nonce" value={nonce} />
    </>
  );
  return (
    <section class="decide">
      <h2>Your decision</h2>
      <p class="status" data-status="" role="status" aria-live="polite" />
      {stepUp.kind === "unavailable" ? (
        <div class="notice" id="approve-unavailable">
          <p>You cannot approve from here:</p>
          <List items={stepUp.reasons} />
        </div>
      ) : (
        <form
          method="post"
          action={action}
          id="approve-form"
          data-passkey-options={stepUp.kind === "passkey" ? JSON.stringify(stepUp.options) : undefined}
        >
          {hidden}
          <input type="hidden" name="decision" value="approve" />
          {stepUp.kind === "passkey" && <input type="hidden" name="webauthn" value="" />}
          <button type="submit" class="approve">
            {stepUp.kind === "passkey" ? "Approve with passkey" : "Approve"}
          </button>
        </form>
      )}
      <form method="post" action={action} id="deny-form">
        {hidden}
        <input type="hidden" name="decision" value="deny" />
        <button type="submit" class="deny">
          Deny
        </button>
      </form>
    </section>
  );
};

export type EnrolmentPageInput = { email: string; token: string; passkeys: number; expiresNote?: string };

/** The admin's one-time link: opening it changes nothing; the button starts the ceremony. */
export function renderEnrolment(input: EnrolmentPageInput): RenderedPage {
  return page(
    200,
    <Layout title="Add a passkey">
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

export const ENROLMENT_PROBLEMS = {
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
} as const satisfies Record<string, { status: ContentfulStatusCode; title: string; message: string }>;

export function renderEnrolmentProblem(problem: keyof typeof ENROLMENT_PROBLEMS): RenderedPage {
  const { status, title, message } = ENROLMENT_PROBLEMS[problem];
  return page(
    status,
    <Layout title={title}>
      <h1>{title}</h1>
      <p>{message}</p>
    </Layout>,
  );
}

const Layout: FC<PropsWithChildren<{ title: string }>> = ({ title, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="robots" content="noindex, nofollow" />
      <title>{`${title} · Writ`}</title>
      <link rel="stylesheet" href="/assets/approval.css" />
      <script src="/assets/approval.js" defer />
    </head>
    <body>
      <main>{children}</main>
    </body>
  </html>
);

const Row: FC<PropsWithChildren<{ id: string; label: string }>> = ({ id, label, children }) => (
  <div class="row">
    <dt>{label}</dt>
    <dd id={id}>{children}</dd>
  </div>
);

const List: FC<{ items: readonly string[] }> = ({ items }) => (
  <ul class="list">
    {items.map((item) => (
      <li>{item}</li>
    ))}
  </ul>
);

const Pairs: FC<{ record: Record<string, string | number | boolean>; empty: string }> = ({ record, empty }) => {
  const entries = Object.entries(record);
  if (entries.length === 0) return <>{empty}</>;
  return (
    <ul class="list">
      {entries.map(([key, value]) => (
        <li>
          <code>{key}</code> = {String(value)}
        </li>
      ))}
    </ul>
  );
};

const Vote: FC<{ decision: Decision | undefined }> = ({ decision }) => {
  if (!decision) return <span class="muted">waiting</span>;
  return (
    <span class={decision.decision === "approve" ? "yes" : "no"}>
      {decision.decision === "approve" ? "approved" : "denied"} at {utc(decision.at)} ({decision.authMethod})
    </span>
  );
};

/** A rendered document with its status: shared by the approval, enrolment and admin pages. */
export function page(status: ContentfulStatusCode, body: Child): RenderedPage {
  return { status, html: `<!doctype html>${String(body)}` };
}

function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function timeLeft(ms: number): string {
  if (ms <= 0) return "no time left";
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return "less than a minute left";
  if (minutes < 120) return `${minutes} minute${minutes === 1 ? "" : "s"} left`;
  return `${Math.floor(minutes / 60)} hours ${minutes % 60} minutes left`;
}

export function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} hour${seconds === 3600 ? "" : "s"}`;
  if (seconds % 60 === 0) return `${seconds / 60} minute${seconds === 60 ? "" : "s"}`;
  return `${seconds} seconds`;
}
