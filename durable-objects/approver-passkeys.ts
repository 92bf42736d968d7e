import { DurableObject } from "cloudflare:workers";
import { randomSecret, sameHash } from "../lib/crypto.ts";
import { DAY_MS } from "../lib/time.ts";
import type { NoBindings } from "./bindings.ts";
import { migrate } from "./migrations.ts";

const MIGRATIONS = [
  `CREATE TABLE approver (id INTEGER PRIMARY KEY CHECK (id = 1), user_handle TEXT NOT NULL, created_at INTEGER NOT NULL);
   CREATE TABLE credentials (
     id TEXT PRIMARY KEY, public_key TEXT NOT NULL, counter INTEGER NOT NULL, transports TEXT NOT NULL,
     created_at INTEGER NOT NULL, last_used_at INTEGER) WITHOUT ROWID;
   CREATE TABLE enrolment_links (
     token_hash TEXT PRIMARY KEY, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER,
     challenge TEXT) WITHOUT ROWID;`,
];

/** An admin's enrolment link works once, and only for a day: long enough to reach a laptop, short enough to go stale. */
export const ENROLMENT_LINK_TTL_MS = DAY_MS;
/** A used or expired link is kept this long so that a second click says "used"/"expired" rather than "unknown". */
const LINK_RETENTION_MS = 7 * DAY_MS;
/** A passkey ceremony is a minute or two; an older challenge is refused. */
export const ENROLMENT_CHALLENGE_TTL_MS = 10 * 60 * 1000;

/** A passkey as stored: the public key is base64url COSE, exactly what the authenticator registered. */
export type StoredCredential = { id: string; publicKey: string; counter: number; transports: string[] };
export type EnrolmentProblem = "unknown_link" | "link_used" | "expired";
export type EnrolmentState = { ok: true; passkeys: number } | { ok: false; problem: EnrolmentProblem };
export type EnrolmentStart = { ok: true; userHandle: string; credentialIds: string[] } | { ok: false; problem: EnrolmentProblem };
export type CompleteEnrolmentInput = { tokenHash: string; challenge: string; credential: StoredCredential; now: number };
export type CompleteEnrolmentResult = { ok: true } | { ok: false; problem: EnrolmentProblem | "stale_challenge" | "credential_exists" };
export type RecordUseResult = { ok: true } | { ok: false; problem: "unknown_credential" | "counter_regressed" };

type LinkRow = { token_hash: string; expires_at: number; used_at: number | null; challenge: string | null };
type CredentialRow = { id: string; public_key: string; counter: number; transports: string };

/**
 * One object per approver email (`getByName(email)`): the passkeys they enrolled and the one-time enrolment links
 * an admin issued them. Links are stored only as hashes; using one and adding its passkey happen in one
 * transaction, so a link can never enrol two passkeys.
 */
export class ApproverPasskeys extends DurableObject<NoBindings> {
  constructor(ctx: DurableObjectState, env: NoBindings) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage.sql, MIGRATIONS));
  }

  /** Records a new link (the caller keeps the secret, we keep its hash) and returns when it expires. */
  issueEnrolmentLink(tokenHash: string, now: number): { expiresAt: number } {
    const expiresAt = now + ENROLMENT_LINK_TTL_MS;
    this.ctx.storage.transactionSync(() => {
      this.#purge(now);
      this.#userHandle(now);
      this.ctx.storage.sql.exec(
        "INSERT INTO enrolment_links (token_hash, created_at, expires_at) VALUES (?, ?, ?)",
        tokenHash,
        now,
        expiresAt,
      );
    });
    return { expiresAt };
  }

  /** Read-only: the enrolment page (GET) checks the link without using it. */
  enrolmentState(tokenHash: string, now: number): EnrolmentState {
    const link = this.#link(tokenHash, now);
    if (!link.ok) return link;
    return { ok: true, passkeys: this.#credentials().length };
  }

  /** Starts a ceremony: remembers the challenge the authenticator must sign. A later start replaces it. */
  beginEnrolment(tokenHash: string, challenge: string, now: number): EnrolmentStart {
    return this.ctx.storage.transactionSync((): EnrolmentStart => {
      const link = this.#link(tokenHash, now);
      if (!link.ok) return link;
      this.ctx.storage.sql.exec("UPDATE enrolment_links SET challenge = ? WHERE token_hash = ?", `${now}.${challenge}`, tokenHash);
      return { ok: true, userHandle: this.#userHandle(now), credentialIds: this.#credentials().map((c) => c.id) };
    });
  }

  /** The challenge the last `beginEnrolment` set, if it is still fresh; the route verifies the attestation against it. */
  pendingChallenge(
    tokenHash: string,
    now: number,
  ): { ok: true; challenge: string } | { ok: false; problem: EnrolmentProblem | "stale_challenge" } {
    const link = this.#link(tokenHash, now);
    if (!link.ok) return link;
    const challenge = freshChallenge(link.row.challenge, now);
    return challenge === undefined ? { ok: false, problem: "stale_challenge" } : { ok: true, challenge };
  }

  /** Atomically: the link is still unused, the verified challenge is still the pending one, then store the passkey and burn the link. */
  completeEnrolment(input: CompleteEnrolmentInput): CompleteEnrolmentResult {
    return this.ctx.storage.transactionSync((): CompleteEnrolmentResult => {
      const link = this.#link(input.tokenHash, input.now);
      if (!link.ok) return link;
      const pending = freshChallenge(link.row.challenge, input.now);
      if (pending === undefined || !sameHash(pending, input.challenge)) return { ok: false, problem: "stale_challenge" };
      const sql = this.ctx.storage.sql;
      if (sql.exec("SELECT 1 FROM credentials WHERE id = ?", input.credential.id).toArray().length > 0)
        return { ok: false, problem: "credential_exists" };
      sql.exec("UPDATE enrolment_links SET used_at = ?, challenge = NULL WHERE token_hash = ?", input.now, input.tokenHash);
      sql.exec(
        "INSERT INTO credentials (id, public_key, counter, transports, created_at) VALUES (?, ?, ?, ?, ?)",
        input.credential.id,
        input.credential.publicKey,
        input.credential.counter,
        JSON.stringify(input.credential.transports),
        input.now,
      );
      return { ok: true };
    });
  }

  credentials(): StoredCredential[] {
    return this.#credentials();
  }

  credential(id: string): StoredCredential | undefined {
    return this.#credentials(id)[0];
  }

  /**
   * After a verified assertion: store the authenticator's new signature counter. Compare-and-set, so of two
   * assertions racing with the same counter only one is accepted (a cloned authenticator shows up as a regression).
   * Passkeys that keep no counter report 0 every time, which stays allowed.
   */
  recordUse(id: string, newCounter: number, now: number): RecordUseResult {
    return this.ctx.storage.transactionSync((): RecordUseResult => {
      const updated = this.ctx.storage.sql
        .exec(
          "UPDATE credentials SET counter = ?, last_used_at = ? WHERE id = ? AND (counter < ? OR (counter = 0 AND ? = 0)) RETURNING id",
          newCounter,
          now,
          id,
          newCounter,
          newCounter,
        )
        .toArray();
      if (updated.length > 0) return { ok: true };
      const exists = this.ctx.storage.sql.exec("SELECT 1 FROM credentials WHERE id = ?", id).toArray().length > 0;
      return { ok: false, problem: exists ? "counter_regressed" : "unknown_credential" };
    });
  }

  #credentials(id?: string): StoredCredential[] {
    const rows =
      id === undefined
        ? this.ctx.storage.sql.exec<CredentialRow>("SELECT id, public_key, counter, transports FROM credentials ORDER BY created_at, id")
        : this.ctx.storage.sql.exec<CredentialRow>("SELECT id, public_key, counter, transports FROM credentials WHERE id = ?", id);
    return rows
      .toArray()
      .map((r) => ({ id: r.id, publicKey: r.public_key, counter: r.counter, transports: JSON.parse(r.transports) as string[] }));
  }

  #link(tokenHash: string, now: number): { ok: true; row: LinkRow } | { ok: false; problem: EnrolmentProblem } {
    const row = this.ctx.storage.sql
      .exec<LinkRow>("SELECT token_hash, expires_at, used_at, challenge FROM enrolment_links WHERE token_hash = ?", tokenHash)
      .toArray()[0];
    if (!row || !sameHash(row.token_hash, tokenHash)) return { ok: false, problem: "unknown_link" };
    if (row.used_at !== null) return { ok: false, problem: "link_used" };
    if (now >= row.expires_at) return { ok: false, problem: "expired" };
    return { ok: true, row };
  }

  /** The WebAuthn user handle: random, so it says nothing about the approver (WebAuthn §14.6.1), and stable across passkeys. */
  #userHandle(now: number): string {
    const existing = this.ctx.storage.sql.exec<{ user_handle: string }>("SELECT user_handle FROM approver").toArray()[0];
    if (existing !== undefined) return existing.user_handle;
    const handle = randomSecret(16);
    this.ctx.storage.sql.exec("INSERT INTO approver (id, user_handle, created_at) VALUES (1, ?, ?)", handle, now);
    return handle;
  }

  #purge(now: number): void {
    this.ctx.storage.sql.exec("DELETE FROM enrolment_links WHERE expires_at < ?", now - LINK_RETENTION_MS);
  }
}

function freshChallenge(stored: string | null, now: number): string | undefined {
  if (stored === null) return undefined;
  const dot = stored.indexOf(".");
  const at = Number(stored.slice(0, dot));
  if (dot < 0 || !Number.isSafeInteger(at) || now - at > ENROLMENT_CHALLENGE_TTL_MS || at > now) return undefined;
  return stored.slice(dot + 1);
}
