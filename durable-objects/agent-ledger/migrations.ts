/**
 * The AgentLedger's schema, in the order deployed objects have run it: append, never edit (`../migrations.ts`).
 * Which store owns which table: `docs/storage-schema.md`.
 */
export const LEDGER_MIGRATIONS = [
  `CREATE TABLE used_assertions (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX used_assertions_by_expiry ON used_assertions (expires_at);`,
  `CREATE TABLE open_approvals (request_hash TEXT PRIMARY KEY, approval_id TEXT NOT NULL UNIQUE, auth_req_id TEXT NOT NULL,
     expires_at INTEGER NOT NULL) WITHOUT ROWID;`,
  `CREATE TABLE agent_state (id INTEGER PRIMARY KEY CHECK (id = 1), disabled INTEGER NOT NULL, not_before INTEGER NOT NULL, changed_at INTEGER NOT NULL);
   -- not_before: epoch ms of the last kill switch; tokens issued up to then are inactive for good.
   CREATE TABLE issued_tokens (jti TEXT PRIMARY KEY, use_case TEXT NOT NULL, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
     units TEXT NOT NULL, used_units TEXT, reported_at INTEGER, revoked_at INTEGER) WITHOUT ROWID;
   CREATE INDEX issued_tokens_by_time ON issued_tokens (issued_at);
   CREATE TABLE buckets (name TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;`,
  `CREATE TABLE usage (rule TEXT NOT NULL, hour INTEGER NOT NULL, used REAL NOT NULL, PRIMARY KEY (rule, hour)) WITHOUT ROWID;`,
  // Audit events written with the token they describe, until their audit shard has them. AUTOINCREMENT: a seq is
  // never reused, so the shard can recognise (and skip) a batch it already has.
  `CREATE TABLE audit_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, shard TEXT NOT NULL, body TEXT NOT NULL);`,
  // Approved CIBA requests whose token may still be collected, so the kill switch can cancel them too (issue 11).
  // until: epoch ms after which the request can no longer yield a token anyway (its deadline plus the longest lease).
  `CREATE TABLE approved_requests (approval_id TEXT PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID;`,
  // Delegation (docs/delegation.md). In the subject's ledger: actor, the agent that acted, and hold, what the token
  // took from the budgets (JSON), so that a refusal by the actor's ledger gives back exactly that, once. In the
  // actor's ledger: acted_for, the subject it acted for.
  `ALTER TABLE issued_tokens ADD COLUMN actor TEXT;
   ALTER TABLE issued_tokens ADD COLUMN acted_for TEXT;
   ALTER TABLE issued_tokens ADD COLUMN hold TEXT;`,
  // Delegation, in the subject's ledger: parent, the jti of the subject token a delegated token was derived from
  // (every token of a chain is recorded here), so that revoking an ancestor makes its descendants inactive too.
  `ALTER TABLE issued_tokens ADD COLUMN parent TEXT;`,
];
