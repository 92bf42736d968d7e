import { DAY_MS, SECOND_MS } from "../../lib/time.ts";
import type { ApprovalStatus, ApprovalView, Decision, RequestedGrant } from "../../schemas/approval.ts";
import type { ApprovalSettings } from "../../schemas/policy.ts";

/**
 * The ApprovalRequest's schema, in the order deployed objects have run it: append, never edit (`../migrations.ts`).
 * Tables and columns: `docs/storage-schema.md`.
 */
export const APPROVAL_MIGRATIONS = [
  `CREATE TABLE request (
     id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, request_hash TEXT NOT NULL, grant_json TEXT NOT NULL,
     settings_json TEXT NOT NULL, meta_json TEXT NOT NULL, auth_req_hash TEXT NOT NULL, nonce_key TEXT NOT NULL,
     status TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, interval_s INTEGER NOT NULL,
     last_poll_at INTEGER, decided_at INTEGER, collected_at INTEGER);
   CREATE TABLE links (approver TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, used_at INTEGER);
   CREATE TABLE decisions (approver TEXT PRIMARY KEY, decision TEXT NOT NULL, at INTEGER NOT NULL, auth_method TEXT NOT NULL);`,
  // ended_at: when the request became final (denied, cancelled, expired, its one token collected); the retention
  // counts from here.
  `ALTER TABLE request ADD COLUMN ended_at INTEGER;`,
];

/**
 * How long a final request (its intent, context and approvers' addresses) is kept before the object deletes all it
 * stored. The audit trail is the durable record of every decision; the request is kept only so that a late poll
 * still gets its final answer rather than `invalid_grant`, and an approver opening an old mail sees what became of
 * it: a week covers a weekend or a holiday, and keeps no more personal data than that needs.
 */
export const APPROVAL_RETENTION_MS = 7 * DAY_MS;

export type ApprovalMeta = {
  agentName: string;
  agentOwner?: string | undefined;
  useCaseDescription: string;
  bindingMessage?: string | undefined;
};

export type RequestRow = {
  id: string;
  agent_id: string;
  request_hash: string;
  grant_json: string;
  settings_json: string;
  meta_json: string;
  auth_req_hash: string;
  nonce_key: string;
  status: ApprovalStatus;
  created_at: number;
  expires_at: number;
  interval_s: number;
  last_poll_at: number | null;
  decided_at: number | null;
  collected_at: number | null;
  ended_at: number | null;
};

export function settingsOf(row: RequestRow): ApprovalSettings {
  return JSON.parse(row.settings_json) as ApprovalSettings;
}

/**
 * Until when (epoch ms) a request can still lead to a token, or null once it cannot: a pending request until its
 * deadline; an approved one until its deadline if it was not collected (an approval does not keep forever, issue
 * 11), or until its lease's own end, which counts from the approval.
 */
export function liveUntil(row: RequestRow): number | null {
  if (row.status === "pending") return row.expires_at;
  if (row.status !== "approved") return null;
  const lease = settingsOf(row).lease_seconds;
  if (lease !== undefined) return (row.decided_at ?? row.expires_at) + lease * SECOND_MS;
  return row.collected_at === null ? row.expires_at : null;
}

/** The object's next alarm: when a live request ends, or when a final one's retention is over. */
export function nextDeadline(row: RequestRow): number {
  const until = liveUntil(row);
  if (until !== null) return until;
  // Requests that ended before `ended_at` existed: their decision or deadline.
  return (row.ended_at ?? row.collected_at ?? row.decided_at ?? row.expires_at) + APPROVAL_RETENTION_MS;
}

/** What the approval page shows one approver. */
export function approvalView(row: RequestRow, viewer: string, decisions: Decision[]): ApprovalView {
  const settings = settingsOf(row);
  const meta = JSON.parse(row.meta_json) as ApprovalMeta;
  const view: ApprovalView = {
    approvalId: row.id,
    status: row.status,
    grant: JSON.parse(row.grant_json) as RequestedGrant,
    requestHash: row.request_hash,
    agentName: meta.agentName,
    useCaseDescription: meta.useCaseDescription,
    requestedAt: row.created_at,
    expiresAt: row.expires_at,
    quorum: settings.quorum,
    groups: settings.groups,
    // A barred owner is not shown as someone the request waits for.
    approvers: settings.approvers.filter((a) => settings.owner_may_approve || a !== meta.agentOwner),
    decisions,
    viewer,
    approverAuth: settings.approver_auth,
    linkOnly: settings.link_only,
  };
  if (meta.agentOwner !== undefined) view.agentOwner = meta.agentOwner;
  if (meta.bindingMessage !== undefined) view.bindingMessage = meta.bindingMessage;
  return view;
}
