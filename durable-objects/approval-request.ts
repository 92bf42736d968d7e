import { DurableObject } from "cloudflare:workers";
import { eligibility, tally } from "../core/approvals/quorum.ts";
import { base64url, randomSecret, sameHash } from "../lib/crypto.ts";
import type { ApprovalStatus, ApprovalView, ApproverAuthMethod, Decision, RequestedGrant } from "../schemas/approval.ts";
import type { ApprovalSettings } from "../schemas/policy.ts";
import type { NoBindings } from "./bindings.ts";
import { migrate } from "./migrations.ts";

const MIGRATIONS = [
  `CREATE TABLE request (
     id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, request_hash TEXT NOT NULL, grant_json TEXT NOT NULL,
     settings_json TEXT NOT NULL, meta_json TEXT NOT NULL, auth_req_hash TEXT NOT NULL, nonce_key TEXT NOT NULL,
     status TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, interval_s INTEGER NOT NULL,
     last_poll_at INTEGER, decided_at INTEGER, collected_at INTEGER);
   CREATE TABLE links (approver TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, used_at INTEGER);
   CREATE TABLE decisions (approver TEXT PRIMARY KEY, decision TEXT NOT NULL, at INTEGER NOT NULL, auth_method TEXT NOT NULL);`,
];

/** A page view is good for this long: enough to read and decide, short enough that a leaked form goes stale. */
export const VIEW_NONCE_TTL_MS = 10 * 60 * 1000;
/** CIBA §10.2: a client that polls too fast must add at least 5 s to its interval. */
const SLOW_DOWN_STEP_SECONDS = 5;

export type OpenApprovalInput = {
  approvalId: string;
  requestHash: string;
  grant: RequestedGrant;
  settings: ApprovalSettings;
  meta: { agentName: string; agentOwner?: string | undefined; useCaseDescription: string; bindingMessage?: string | undefined };
  authReqSecretHash: string;
  links: { approver: string; tokenHash: string }[];
  intervalSeconds: number;
  now: number;
};

export type LinkProblem = "unknown_link" | "link_used" | "expired" | "cancelled" | "decided";
export type ViewResult = { ok: true; view: ApprovalView; nonce: string } | { ok: false; problem: LinkProblem };

export type DecideInput = {
  linkTokenHash: string;
  nonce: string;
  decision: "approve" | "deny";
  /** Set by the route only after it verified the method (passkey assertion, Access JWT); "link" otherwise. */
  authMethod: ApproverAuthMethod;
  now: number;
};
export type DecideProblem = LinkProblem | "bad_nonce" | "not_an_approver" | "owner_barred" | "already_decided" | "auth_required";
export type DecideResult =
  | { ok: true; status: ApprovalStatus; approver: string; agentId: string; requestHash: string }
  | { ok: false; problem: DecideProblem };

export type ApprovalClaimData = { id: string; approved_by: string[]; approved_at: number; request_hash: string };
export type PollResult =
  | { status: "pending" | "slow_down" | "denied" | "expired" | "cancelled" | "collected" | "unknown" }
  | { status: "approved"; grant: RequestedGrant; approval: ApprovalClaimData };

type RequestRow = {
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
};

/**
 * One object per approval request: its state machine (pending → approved | denied | expired | cancelled),
 * the approvers' single-use links (hashes only), their decisions, and the agent's polling. Every
 * check-then-write runs in one synchronous transaction, so two clicks, two approvers or a click racing the
 * expiry alarm can never yield two outcomes or two tokens.
 */
export class ApprovalRequest extends DurableObject<NoBindings> {
  constructor(ctx: DurableObjectState, env: NoBindings) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage.sql, MIGRATIONS));
  }

  open(input: OpenApprovalInput): void {
    this.ctx.storage.transactionSync(() => {
      if (this.#row()) throw new TypeError(`approval ${input.approvalId} is already open`);
      this.ctx.storage.sql.exec(
        `INSERT INTO request (id, agent_id, request_hash, grant_json, settings_json, meta_json, auth_req_hash, nonce_key,
           status, created_at, expires_at, interval_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
        input.approvalId,
        input.grant.agentId,
        input.requestHash,
        JSON.stringify(input.grant),
        JSON.stringify(input.settings),
        JSON.stringify(input.meta),
        input.authReqSecretHash,
        randomSecret(),
        input.now,
        input.now + input.settings.request_ttl_seconds * 1000,
        input.intervalSeconds,
      );
      for (const link of input.links)
        this.ctx.storage.sql.exec("INSERT INTO links (approver, token_hash) VALUES (?, ?)", link.approver, link.tokenHash);
    });
    void this.ctx.storage.setAlarm(input.now + input.settings.request_ttl_seconds * 1000);
  }

  /** Read-only apart from expiring an overdue request: a GET (or a mail scanner) never decides anything. */
  async view(linkTokenHash: string, now: number): Promise<ViewResult> {
    const found = this.#link(linkTokenHash, now);
    if (!found.ok) return found;
    const nonce = await this.#nonce(found.row.nonce_key, found.approver, now);
    return { ok: true, view: this.#view(found.row, found.approver), nonce };
  }

  async decide(input: DecideInput): Promise<DecideResult> {
    const row = this.#row();
    // The HMAC needs an await, so it is checked before the transaction; the nonce key never changes.
    const nonceOk = row !== undefined && (await this.#nonceValid(row.nonce_key, input));
    return this.ctx.storage.transactionSync((): DecideResult => {
      const found = this.#link(input.linkTokenHash, input.now);
      if (!found.ok) return found;
      const { row, approver } = found;
      if (!nonceOk) return { ok: false, problem: "bad_nonce" };
      const settings = JSON.parse(row.settings_json) as ApprovalSettings;
      const meta = JSON.parse(row.meta_json) as OpenApprovalInput["meta"];
      const votes = this.#decisions();
      const eligible = eligibility(settings, approver, meta.agentOwner, votes);
      if (!eligible.ok) return { ok: false, problem: eligible.why };
      if (input.decision === "approve" && !settings.link_only && !(settings.approver_auth as string[]).includes(input.authMethod))
        return { ok: false, problem: "auth_required" };

      const sql = this.ctx.storage.sql;
      sql.exec("UPDATE links SET used_at = ? WHERE approver = ?", input.now, approver);
      sql.exec(
        "INSERT INTO decisions (approver, decision, at, auth_method) VALUES (?, ?, ?, ?)",
        approver,
        input.decision,
        input.now,
        input.authMethod,
      );
      const status = tally(settings, [...votes, { approver, decision: input.decision }]);
      if (status !== "pending") sql.exec("UPDATE request SET status = ?, decided_at = ? WHERE status = 'pending'", status, input.now);
      return { ok: true, status, approver, agentId: row.agent_id, requestHash: row.request_hash };
    });
  }

  /** The agent's CIBA poll (§11): also enforces the interval and hands out an approved request's token once (or during its lease). */
  poll(authReqSecretHash: string, agentId: string, now: number): PollResult {
    return this.ctx.storage.transactionSync((): PollResult => {
      const row = this.#row();
      if (!row || row.agent_id !== agentId || !sameHash(row.auth_req_hash, authReqSecretHash)) return { status: "unknown" };
      const sql = this.ctx.storage.sql;
      const tooFast = row.last_poll_at !== null && now - row.last_poll_at < row.interval_s * 1000;
      sql.exec("UPDATE request SET last_poll_at = ? WHERE id = ?", now, row.id);
      if (tooFast) {
        sql.exec("UPDATE request SET interval_s = interval_s + ? WHERE id = ?", SLOW_DOWN_STEP_SECONDS, row.id);
        return { status: "slow_down" };
      }
      const status = this.#expireIfDue(row, now);
      if (status !== "approved") return { status };
      const settings = JSON.parse(row.settings_json) as ApprovalSettings;
      const decidedAt = row.decided_at ?? now;
      if (settings.lease_seconds === undefined) {
        if (row.collected_at !== null) return { status: "collected" };
        sql.exec("UPDATE request SET collected_at = ? WHERE id = ?", now, row.id);
      } else if (now >= decidedAt + settings.lease_seconds * 1000) {
        return { status: "expired" };
      }
      const approvedBy = this.#decisions()
        .filter((d) => d.decision === "approve")
        .map((d) => d.approver);
      return {
        status: "approved",
        grant: JSON.parse(row.grant_json) as RequestedGrant,
        approval: { id: row.id, approved_by: approvedBy, approved_at: Math.floor(decidedAt / 1000), request_hash: row.request_hash },
      };
    });
  }

  /** Takes back a collection the broker could not complete (the ledger refused the token), so the agent may poll again. */
  release(): void {
    this.ctx.storage.sql.exec("UPDATE request SET collected_at = NULL");
  }

  /** Kill switch and agent-side cancellation: a pending request can no longer be approved. */
  cancel(now: number): ApprovalStatus | undefined {
    return this.ctx.storage.transactionSync(() => {
      const row = this.#row();
      if (!row) return undefined;
      if (row.status === "pending") {
        this.ctx.storage.sql.exec("UPDATE request SET status = 'cancelled', decided_at = ? WHERE id = ?", now, row.id);
        return "cancelled";
      }
      return row.status;
    });
  }

  override async alarm(): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      const row = this.#row();
      if (row) this.#expireIfDue(row, Date.now());
    });
  }

  #row(): RequestRow | undefined {
    return this.ctx.storage.sql.exec<RequestRow>("SELECT * FROM request").toArray()[0];
  }

  #decisions(): Decision[] {
    return this.ctx.storage.sql
      .exec<{ approver: string; decision: "approve" | "deny"; at: number; auth_method: Decision["authMethod"] }>(
        "SELECT approver, decision, at, auth_method FROM decisions ORDER BY at, approver",
      )
      .toArray()
      .map((d) => ({ approver: d.approver, decision: d.decision, at: d.at, authMethod: d.auth_method }));
  }

  /** Expiry is checked on every read too, so a late alarm never lets an overdue request be approved. */
  #expireIfDue(row: RequestRow, now: number): ApprovalStatus {
    if (row.status === "pending" && now >= row.expires_at) {
      this.ctx.storage.sql.exec("UPDATE request SET status = 'expired', decided_at = ? WHERE id = ?", row.expires_at, row.id);
      return "expired";
    }
    return row.status;
  }

  #link(tokenHash: string, now: number): { ok: true; row: RequestRow; approver: string } | { ok: false; problem: LinkProblem } {
    const row = this.#row();
    const link = this.ctx.storage.sql
      .exec<{ approver: string; token_hash: string; used_at: number | null }>(
        "SELECT approver, token_hash, used_at FROM links WHERE token_hash = ?",
        tokenHash,
      )
      .toArray()[0];
    if (!row || !link || !sameHash(link.token_hash, tokenHash)) return { ok: false, problem: "unknown_link" };
    if (link.used_at !== null) return { ok: false, problem: "link_used" };
    const status = row.status === "pending" && now >= row.expires_at ? "expired" : row.status;
    if (status === "expired") return { ok: false, problem: "expired" };
    if (status === "cancelled") return { ok: false, problem: "cancelled" };
    if (status !== "pending") return { ok: false, problem: "decided" };
    return { ok: true, row, approver: link.approver };
  }

  #view(row: RequestRow, viewer: string): ApprovalView {
    const settings = JSON.parse(row.settings_json) as ApprovalSettings;
    const meta = JSON.parse(row.meta_json) as OpenApprovalInput["meta"];
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
      decisions: this.#decisions(),
      viewer,
      approverAuth: settings.approver_auth,
      linkOnly: settings.link_only,
    };
    if (meta.agentOwner !== undefined) view.agentOwner = meta.agentOwner;
    if (meta.bindingMessage !== undefined) view.bindingMessage = meta.bindingMessage;
    return view;
  }

  /** `<viewedAt>.<HMAC(nonce key, approver.viewedAt)>`: a per-view CSRF token (and WebAuthn challenge) that needs no storage write. */
  async #nonce(key: string, approver: string, viewedAt: number): Promise<string> {
    return `${viewedAt}.${await hmac(key, `${approver}.${viewedAt}`)}`;
  }

  async #nonceValid(key: string, input: DecideInput): Promise<boolean> {
    const [viewedAtText, mac] = input.nonce.split(".");
    const viewedAt = Number(viewedAtText);
    if (!Number.isSafeInteger(viewedAt) || mac === undefined) return false;
    if (viewedAt > input.now || input.now - viewedAt > VIEW_NONCE_TTL_MS) return false;
    const approver = this.ctx.storage.sql
      .exec<{ approver: string }>("SELECT approver FROM links WHERE token_hash = ?", input.linkTokenHash)
      .toArray()[0]?.approver;
    return approver !== undefined && sameHash(mac, await hmac(key, `${approver}.${viewedAt}`));
  }
}

async function hmac(key: string, message: string): Promise<string> {
  const cryptoKey = await crypto.subtle.importKey("raw", new TextEncoder().encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return base64url(new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, new TextEncoder().encode(message))));
}
