import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import type { FC } from "hono/jsx";
import { multiLine, oneLine } from "../../lib/text.ts";
import type { ApprovalView, Decision } from "../../schemas/approval.ts";
import { duration, timeLeft, utc } from "./format.ts";
import { Layout, page, type RenderedPage, Row } from "./layout.tsx";

/**
 * The page an approver opens from the emailed link: everything needed to judge the request, and the two buttons.
 * Opening it changes nothing; the script (/assets/approval.js) only runs the passkey ceremony on a click.
 * What the agent wrote (intent, context, binding message, locations) is escaped by JSX and cleaned as the approval
 * mail cleans it (lib/text.ts), so bidi overrides and zero-width characters cannot make it read otherwise.
 */

/** How the Approve button proves who is clicking, decided from the policy and what this approver has. */
export type StepUp =
  | { kind: "link" }
  | { kind: "access" }
  | { kind: "passkey"; options: PublicKeyCredentialRequestOptionsJSON }
  | { kind: "unavailable"; reasons: string[] };

export type ApprovalPageInput = { view: ApprovalView; nonce: string; token: string; now: number; stepUp: StepUp };

export function renderApproval(input: ApprovalPageInput): RenderedPage {
  const { view, now } = input;
  const grant = view.grant;
  const approvedCount = view.decisions.filter((d) => d.decision === "approve").length;
  const intent = grant.intent === undefined ? "" : multiLine(grant.intent);
  return page(
    200,
    <Layout title={`Approve ${grant.useCaseId} for ${view.agentName}?`} script>
      <p class="eyebrow">Approval request · {view.status}</p>
      <h1>
        <span id="agent-name">{view.agentName}</span> asks for <span id="use-case">{grant.useCaseId}</span>
      </h1>
      <p id="use-case-description">{view.useCaseDescription}</p>
      {view.bindingMessage !== undefined && (
        <p class="binding" id="binding-message">
          Code shown by the agent: <strong>{oneLine(view.bindingMessage)}</strong>. Approve only if it matches.
        </p>
      )}
      <section>
        <h2>Why</h2>
        <blockquote id="intent">{intent || "(the agent gave no reason)"}</blockquote>
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
            by <code>{grant.agentId}</code> at {utc(view.requestedAt, "minute")}
          </Row>
          <Row id="expires" label="Decide by">
            {utc(view.expiresAt, "minute")} ({timeLeft(view.expiresAt - now)})
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

const List: FC<{ items: readonly string[] }> = ({ items }) => (
  <ul class="list">
    {items.map((item) => (
      <li>{oneLine(item)}</li>
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
          <code>{oneLine(key)}</code> = {oneLine(String(value))}
        </li>
      ))}
    </ul>
  );
};

const Vote: FC<{ decision: Decision | undefined }> = ({ decision }) => {
  if (!decision) return <span class="muted">waiting</span>;
  return (
    <span class={decision.decision === "approve" ? "yes" : "no"}>
      {decision.decision === "approve" ? "approved" : "denied"} at {utc(decision.at, "minute")} ({decision.authMethod})
    </span>
  );
};
