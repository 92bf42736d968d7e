import { DurableObject } from "cloudflare:workers";
import type { NoBindings } from "./bindings.ts";
import { migrate } from "./migrations.ts";

const MIGRATIONS = [
  `CREATE TABLE mail (
     id INTEGER PRIMARY KEY, approval_id TEXT NOT NULL, recipient TEXT NOT NULL, subject TEXT NOT NULL,
     text TEXT NOT NULL, html TEXT NOT NULL, link TEXT NOT NULL, sent_at INTEGER NOT NULL);
   CREATE INDEX mail_by_recipient ON mail (recipient, approval_id, id);`,
];

/** The outbox is a development aid, not an archive: older mail is dropped as new mail arrives. */
export const DEV_OUTBOX_MAX_MESSAGES = 200;
/** There is one outbox per broker. */
export const DEV_OUTBOX_NAME = "outbox";

/** One approval email as it was sent, link included: local development only. */
export type OutboxMail = {
  id: number;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The approval link with its one-time token: the reason this object must never exist in production. */
  link: string;
  approvalId: string;
  /** Epoch milliseconds. */
  sentAt: number;
};
export type OutboxMailInput = Omit<OutboxMail, "id">;
export type OutboxFilter = { to?: string | undefined; approvalId?: string | undefined };

type MailRow = {
  id: number;
  approval_id: string;
  recipient: string;
  subject: string;
  text: string;
  html: string;
  link: string;
  sent_at: number;
};

/**
 * Local development only (`DEV_OUTBOX = "true"`): keeps the last approval emails so a developer, a
 * script or the end-to-end test can follow the link, since Miniflare only writes sent mail to temp files.
 * A single instance (`DEV_OUTBOX_NAME`) serves the whole broker.
 */
export class DevOutbox extends DurableObject<NoBindings> {
  constructor(ctx: DurableObjectState, env: NoBindings) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage.sql, MIGRATIONS));
  }

  /** Stores one sent mail and, in the same transaction, drops all but the newest `DEV_OUTBOX_MAX_MESSAGES`. */
  record(mail: OutboxMailInput): OutboxMail {
    const sql = this.ctx.storage.sql;
    return this.ctx.storage.transactionSync(() => {
      const { id } = sql
        .exec<{ id: number }>(
          "INSERT INTO mail (approval_id, recipient, subject, text, html, link, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
          mail.approvalId,
          mail.to,
          mail.subject,
          mail.text,
          mail.html,
          mail.link,
          mail.sentAt,
        )
        .one();
      sql.exec("DELETE FROM mail WHERE id <= (SELECT id FROM mail ORDER BY id DESC LIMIT 1 OFFSET ?)", DEV_OUTBOX_MAX_MESSAGES);
      return { id, ...mail };
    });
  }

  /** Newest first, at most `limit` (clamped to 1…DEV_OUTBOX_MAX_MESSAGES), optionally for one recipient and/or request. */
  list(limit: number, filter: OutboxFilter = {}): OutboxMail[] {
    const bounded = Math.min(Math.max(Math.trunc(limit) || 1, 1), DEV_OUTBOX_MAX_MESSAGES);
    return this.ctx.storage.sql
      .exec<MailRow>(
        `SELECT * FROM mail WHERE (?1 IS NULL OR recipient = ?1) AND (?2 IS NULL OR approval_id = ?2) ORDER BY id DESC LIMIT ?3`,
        filter.to ?? null,
        filter.approvalId ?? null,
        bounded,
      )
      .toArray()
      .map(toMail);
  }

  /** The last mail sent to `to` (for one request when `approvalId` is given), or null. */
  latestFor(to: string, approvalId?: string): OutboxMail | null {
    return this.list(1, { to, approvalId })[0] ?? null;
  }
}

function toMail(row: MailRow): OutboxMail {
  return {
    id: row.id,
    to: row.recipient,
    subject: row.subject,
    text: row.text,
    html: row.html,
    link: row.link,
    approvalId: row.approval_id,
    sentAt: row.sent_at,
  };
}
