import { DurableObject } from "cloudflare:workers";
import { eligibility, tally } from "../core/approvals/quorum.ts";
import { base64url, randomSecret, sameHash } from "../lib/crypto.ts";
import { SECOND_MS } from "../lib/time.ts";
import type { ApprovalStatus, ApprovalView, ApproverAuthMethod, Decision, RequestedGrant } from "../schemas/approval.ts";
import type { ApprovalSettings } from "../schemas/policy.ts";
import {
  APPROVAL_MIGRATIONS,
  type ApprovalMeta,
  approvalView,
  liveUntil,
  nextDeadline,
  type RequestRow,
  settingsOf,
} from "./approval-request/request-row.ts";
import type { NoBindings } from "./bindings.ts";
import { migrate } from "./migrations.ts";

export { APPROVAL_RETENTION_MS } from "./approval-request/request-row.ts";

/** A page view is good for this long: enough to read and decide, short enough that a leaked form goes stale. */
export const VIEW_NONCE_TTL_MS = 10 * 60 * 1000;
/** CIBA §10.2: a client that polls too fast must add at least 5 s to its interval. */
const SLOW_DOWN_STEP_SECONDS = 5;

export type OpenApprovalInput = {
  approvalId: string;
  requestHash: string;
  grant: RequestedGrant;
  settings: ApprovalSettings;
  meta: ApprovalMeta;
  authReqSecretHash: string;
  links: { approver: string; tokenHash: string }[];
  intervalSeconds: number;
  now: number;
};

export type LinkProblem = "unknown_link" | "link_used" | "expired" | "cancelled" | "decided";
/** `agentId`: set when the link was genuine but cannot be used, so the refusal is filed in that agent's audit chain. */
export type LinkRefusal = { ok: false; problem: LinkProblem; agentId?: string };
export type ViewResult = { ok: true; view: ApprovalView; nonce: string } | LinkRefusal;

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

/**
 * One object per approval request: its state machine (pending → approved | denied | expired | cancelled),
 * the approvers' single-use links (hashes only), their decisions, and the agent's polling. Every
 * check-then-write runs in one synchronous transaction, so two clicks, two approvers or a click racing the
 * expiry alarm can never yield two outcomes or two tokens. One alarm: at the request's next deadline (its expiry,
 * its lease's end), then, once it is final, at the end of its retention, when the object deletes all it stored.
 */
export class ApprovalRequest extends DurableObject<NoBindings> {
  /**
   * Whether this object stores a request. The schema is created by `open`, not for any id someone polls or links
   * to, and is gone after the retention: an object that stores nothing answers "unknown" and writes nothing.
   */
  #stored = false;

  constructor(ctx: DurableObjectState, env: NoBindings) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.#stored = ctx.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE name = '_schema_version'").toArray().length > 0;
      if (!this.#stored) return;
      migrate(ctx.storage.sql, APPROVAL_MIGRATIONS);
      // A request stored before the retention existed may have no alarm left: give it one.
      const row = this.#row();
      if (row && (await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(nextDeadline(row));
    });
  }

  open(input: OpenApprovalInput): void {
    if (!this.#stored) migrate(this.ctx.storage.sql, APPROVAL_MIGRATIONS);
    this.#stored = true;
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
        input.now + input.settings.request_ttl_seconds * SECOND_MS,
        input.intervalSeconds,
      );
      for (const link of input.links)
        this.ctx.storage.sql.exec("INSERT INTO links (approver, token_hash) VALUES (?, ?)", link.approver, link.tokenHash);
    });
    void this.ctx.storage.setAlarm(input.now + input.settings.request_ttl_seconds * SECOND_MS);
  }

  /** Read-only apart from expiring an overdue request: a GET (or a mail scanner) never decides anything. */
  async view(linkTokenHash: string, now: number): Promise<ViewResult> {
    const found = this.#link(linkTokenHash, now);
    if (!found.ok) return found;
    const nonce = await this.#nonce(found.row.nonce_key, found.approver, now);
    return { ok: true, view: approvalView(found.row, found.approver, this.#decisions()), nonce };
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
      const settings = settingsOf(row);
      const meta = JSON.parse(row.meta_json) as ApprovalMeta;
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
      if (status !== "pending")
        sql.exec(
          "UPDATE request SET status = ?, decided_at = ?, ended_at = ? WHERE status = 'pending'",
          status,
          input.now,
          status === "denied" ? input.now : null,
        );
      return { ok: true, status, approver, agentId: row.agent_id, requestHash: row.request_hash };
    });
  }

  /**
   * The agent's CIBA poll (§11): also enforces the interval and hands out an approved request's token once (or
   * during its lease). `withdrawn`: the agent's ledger no longer has the request on its books (the kill switch
   * took it), so a request that could still lead to a token is cancelled here instead.
   */
  poll(authReqSecretHash: string, agentId: string, now: number, withdrawn = false): PollResult {
    return this.ctx.storage.transactionSync((): PollResult => {
      const found = this.#row();
      if (!found || found.agent_id !== agentId || !sameHash(found.auth_req_hash, authReqSecretHash)) return { status: "unknown" };
      const sql = this.ctx.storage.sql;
      const tooFast = found.last_poll_at !== null && now - found.last_poll_at < found.interval_s * SECOND_MS;
      sql.exec("UPDATE request SET last_poll_at = ? WHERE id = ?", now, found.id);
      if (tooFast) {
        sql.exec("UPDATE request SET interval_s = interval_s + ? WHERE id = ?", SLOW_DOWN_STEP_SECONDS, found.id);
        return { status: "slow_down" };
      }
      const row = withdrawn ? this.#cancelLive(this.#settle(found, now), now) : this.#settle(found, now);
      if (row.status !== "approved") return { status: row.status };
      if (liveUntil(row) === null) return { status: "collected" };
      if (settingsOf(row).lease_seconds === undefined)
        sql.exec("UPDATE request SET collected_at = ?, ended_at = ? WHERE id = ?", now, now, row.id);
      const decidedAt = row.decided_at ?? now;
      const approvedBy = this.#decisions()
        .filter((d) => d.decision === "approve")
        .map((d) => d.approver);
      return {
        status: "approved",
        grant: JSON.parse(row.grant_json) as RequestedGrant,
        approval: { id: row.id, approved_by: approvedBy, approved_at: Math.floor(decidedAt / SECOND_MS), request_hash: row.request_hash },
      };
    });
  }

  /** Takes back a collection the broker could not complete (policy or ledger refused the token), so the agent may poll again. */
  release(): void {
    if (this.#stored) this.ctx.storage.sql.exec("UPDATE request SET collected_at = NULL, ended_at = NULL WHERE status = 'approved'");
  }

  /**
   * The kill switch: a pending request can no longer be approved, an approved one no longer collected, a lease
   * yields no more tokens. A request already final is left as it is (its status is returned).
   */
  cancel(now: number): ApprovalStatus | undefined {
    return this.ctx.storage.transactionSync(() => {
      const row = this.#row();
      return row && this.#cancelLive(this.#settle(row, now), now).status;
    });
  }

  /** Expires a request at its deadline; deletes everything once the request is final and its retention is over. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const next = this.ctx.storage.transactionSync(() => {
      const row = this.#row();
      return row && nextDeadline(this.#settle(row, now));
    });
    if (next === undefined) return;
    if (next > now) return this.ctx.storage.setAlarm(next);
    this.#stored = false;
    await this.ctx.storage.deleteAll();
  }

  #row(): RequestRow | undefined {
    if (!this.#stored) return undefined;
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

  /**
   * Ends a request whose time is up: a pending one at its deadline, an approved one not collected by then (issue 11:
   * an approval does not keep forever), a lease at its own end. Checked on every read too, so a late alarm never
   * lets an overdue request be approved or collected. Returns the row as it now stands.
   */
  #settle(row: RequestRow, now: number): RequestRow {
    const until = liveUntil(row);
    return until === null || now < until ? row : this.#end(row, "expired", until);
  }

  /** Cancels a request that could still lead to a token; a final one stays as it is. */
  #cancelLive(row: RequestRow, now: number): RequestRow {
    return liveUntil(row) === null ? row : this.#end(row, "cancelled", now);
  }

  /** Makes the request final at `at`; an approval keeps its own decision time. */
  #end(row: RequestRow, status: "expired" | "cancelled", at: number): RequestRow {
    this.ctx.storage.sql.exec(
      "UPDATE request SET status = ?, decided_at = COALESCE(decided_at, ?), ended_at = ? WHERE id = ?",
      status,
      at,
      at,
      row.id,
    );
    return { ...row, status, decided_at: row.decided_at ?? at, ended_at: at };
  }

  #link(tokenHash: string, now: number): { ok: true; row: RequestRow; approver: string } | LinkRefusal {
    const row = this.#row();
    if (!row) return { ok: false, problem: "unknown_link" };
    const link = this.ctx.storage.sql
      .exec<{ approver: string; token_hash: string; used_at: number | null }>(
        "SELECT approver, token_hash, used_at FROM links WHERE token_hash = ?",
        tokenHash,
      )
      .toArray()[0];
    if (!link || !sameHash(link.token_hash, tokenHash)) return { ok: false, problem: "unknown_link" };
    const status = row.status === "pending" && now >= row.expires_at ? "expired" : row.status;
    const problem: LinkProblem | undefined =
      link.used_at !== null
        ? "link_used"
        : status === "pending"
          ? undefined
          : status === "expired" || status === "cancelled"
            ? status
            : "decided";
    return problem ? { ok: false, problem, agentId: row.agent_id } : { ok: true, row, approver: link.approver };
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
