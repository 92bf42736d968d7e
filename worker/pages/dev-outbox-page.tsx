import type { FC } from "hono/jsx";
import type { OutboxMail } from "../../durable-objects/dev-outbox.ts";
import { Layout, page, type RenderedPage, Row } from "./layout.tsx";

/**
 * Local development only: the approval mail a local broker sent, newest first. Subjects and texts quote what
 * agents wrote; the layout escapes them. The links hold live one-time tokens, hence rel="noreferrer".
 */
export function renderDevOutbox(mails: readonly OutboxMail[]): RenderedPage {
  return page(
    200,
    <Layout title="Dev outbox">
      <p class="eyebrow">Local development only</p>
      <h1>Approval mail sent by this broker</h1>
      <p class="muted">
        Production has no outbox. Newest first; the last 200 are kept. Opening a link changes nothing by itself: the decision is made on the
        page.
      </p>
      {mails.length === 0 ? <p class="notice">No approval mail yet.</p> : mails.map((mail) => <Mail mail={mail} />)}
    </Layout>,
  );
}

const Mail: FC<{ mail: OutboxMail }> = ({ mail }) => (
  <>
    <h2>{mail.subject}</h2>
    <dl>
      <Row label="To">{mail.to}</Row>
      <Row label="Sent (UTC)">{new Date(mail.sentAt).toISOString()}</Row>
      <Row label="Request">
        <code>{mail.approvalId}</code>
      </Row>
      <Row label="Link">
        <a href={mail.link} rel="noreferrer">
          {mail.link}
        </a>
      </Row>
    </dl>
    <details>
      <summary>Text of the mail</summary>
      <blockquote>{mail.text}</blockquote>
    </details>
  </>
);
