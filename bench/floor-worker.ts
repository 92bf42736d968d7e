/**
 * Bench-only worker: the floors Writ's token endpoint is measured against, served by the same workerd with the
 * same compatibility date and flags as the broker. Never part of the production build (wrangler.toml's `main`
 * does not reach this file); `npm run bench` builds it from a generated config (bench/floor-config.ts).
 *
 * Every POST route reads the same form body a token request carries, so that the HTTP and body costs match:
 * - GET  /hello                   nothing: what serving a request costs
 * - POST /sign                    sign one RFC 9068-shaped JWT (ES256)
 * - POST /verify-sign             verify the ES256 client assertion, then sign: the crypto a token needs
 * - POST /verify-sign-write       the same plus one SQLite write in the agent's Durable Object (one round trip)
 * - POST /verify-sign-write2      the same plus a write in a second object first (two round trips, as collecting
 *                                 an approved CIBA request makes: the request's object, then the agent's ledger)
 * - POST /ledger-write/today      verify + sign + one DO call writing the rows a token writes in Writ's ledger today:
 *                                 the assertion's jti (random key, expiry index), the token (random UUID key, time
 *                                 index) and its audit event (an outbox row)
 * - POST /ledger-write/proposed   the same with append-friendly keys: the token keyed by a time-ordered id (no separate
 *                                 time index) carrying its audit event in a column (no outbox row). For the ledger-side
 *                                 levers of issue #15, measured by bench/floor-ab.ts before anyone builds them.
 */
import { DurableObject } from "cloudflare:workers";
import { decodeJwt, exportJWK, generateKeyPair, importJWK, type JWK, type JWTHeaderParameters, jwtVerify, SignJWT } from "jose";

type FloorEnv = {
  /** JSON `{ [kid]: public JWK }` of the agents whose assertions the bench sends. */
  FLOOR_AGENT_KEYS: string;
  /** The audience the assertions are signed for. */
  FLOOR_AUDIENCE: string;
  FLOOR_LEDGER: DurableObjectNamespace<FloorLedger>;
};

const SIGNING_ALG = "ES256";
const VERIFY_ROUTES = new Set([
  "/verify-sign",
  "/verify-sign-write",
  "/verify-sign-write2",
  "/ledger-write/today",
  "/ledger-write/proposed",
]);
/** About the size of a token's audit event as the ledger stores it. */
const AUDIT_EVENT = JSON.stringify({
  v: 1,
  ts: 0,
  type: "token.issued",
  request_id: "00000000-0000-0000-0000-000000000000",
  agent: "bench-agent-000",
  use_case: "crm.customers.read",
  audience: "https://crm.example.com",
  decision: "issued",
  jti: "00000000-0000-0000-0000-000000000000",
  scope: "crm.customers.read",
  actions: ["read"],
  locations: ["https://crm.example.com/tables/customers"],
  limits: { max_rows: 100 },
  ip: "127.0.0.1",
  user_agent: "autocannon",
});
const ASSERTION_CLOCK_TOLERANCE_SECONDS = 30;
const TOKEN_TTL_SECONDS = 300;

// Per isolate, as the broker does: key imports are not what a floor should measure.
let signingKey: Promise<{ key: CryptoKey; kid: string }> | undefined;
let agentKeys: Map<string, Promise<CryptoKey>> | undefined;

export default {
  async fetch(request, env): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (request.method === "GET" && pathname === "/hello") return new Response("hello");
    if (request.method !== "POST") return new Response("not found", { status: 404 });

    const form = new URLSearchParams(await request.text());
    if (pathname === "/sign") return tokenResponse(await sign(form.get("client_assertion") ?? "floor"));
    if (!VERIFY_ROUTES.has(pathname)) return new Response("not found", { status: 404 });

    const assertion = form.get("client_assertion") ?? form.get("subject_token");
    if (assertion === null) return new Response("no assertion", { status: 400 });
    let verified: { agentId: string; jti: string; exp: number };
    try {
      verified = await verify(assertion, env);
    } catch {
      return new Response("bad assertion", { status: 401 });
    }
    if (pathname === "/verify-sign-write2") {
      // A second jti, so this object's write is as fresh (and as refusable) as the ledger's.
      const fresh = await env.FLOOR_LEDGER.getByName(`${verified.agentId}/second`).record(`${verified.jti}/2`, verified.exp);
      if (!fresh) return new Response("replayed", { status: 401 });
    }
    if (pathname === "/ledger-write/today" || pathname === "/ledger-write/proposed") {
      const proposed = pathname === "/ledger-write/proposed";
      const ledger = env.FLOOR_LEDGER.getByName(`${verified.agentId}/${proposed ? "proposed" : "today"}`);
      const fresh = await ledger.recordToken(verified.jti, verified.exp + ASSERTION_CLOCK_TOLERANCE_SECONDS, proposed, AUDIT_EVENT);
      if (!fresh) return new Response("replayed", { status: 401 });
      return tokenResponse(await sign(verified.agentId));
    }
    if (pathname === "/verify-sign-write" || pathname === "/verify-sign-write2") {
      const fresh = await env.FLOOR_LEDGER.getByName(verified.agentId).record(
        verified.jti,
        verified.exp + ASSERTION_CLOCK_TOLERANCE_SECONDS,
      );
      if (!fresh) return new Response("replayed", { status: 401 });
    }
    return tokenResponse(await sign(verified.agentId));
  },
} satisfies ExportedHandler<FloorEnv>;

/** One SQLite write per request: the jti, whose primary key refuses a replay. Responds once the write is durable (output gate). */
export class FloorLedger extends DurableObject<FloorEnv> {
  constructor(ctx: DurableObjectState, env: FloorEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS used (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS used_assertions (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS used_assertions_by_expiry ON used_assertions (expires_at);
      CREATE TABLE IF NOT EXISTS issued_tokens (jti TEXT PRIMARY KEY, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
        units TEXT NOT NULL, audit TEXT) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS issued_tokens_by_time ON issued_tokens (issued_at);
      CREATE TABLE IF NOT EXISTS ordered_tokens (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, units TEXT NOT NULL,
        audit TEXT) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS audit_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, shard TEXT NOT NULL, body TEXT NOT NULL);`);
  }

  record(jti: string, expiresAt: number): boolean {
    const inserted = this.ctx.storage.sql.exec("INSERT OR IGNORE INTO used (jti, expires_at) VALUES (?, ?)", jti, expiresAt);
    return inserted.rowsWritten === 1;
  }

  /**
   * The rows one token writes, today's shape or the proposed one; the replay row is the same in both (its key is
   * the client's jti, random by nature, and it must be looked up by it).
   */
  recordToken(jti: string, expiresAt: number, proposed: boolean, audit: string): boolean {
    const sql = this.ctx.storage.sql;
    if (sql.exec("SELECT 1 FROM used_assertions WHERE jti = ?", jti).toArray().length > 0) return false;
    sql.exec("INSERT INTO used_assertions (jti, expires_at) VALUES (?, ?)", jti, expiresAt);
    const now = Date.now();
    if (proposed) {
      // Time-ordered: milliseconds first, then randomness, so every insert lands on the B-tree's last page.
      const id = `${now.toString(16).padStart(12, "0")}${crypto.randomUUID().replaceAll("-", "").slice(12)}`;
      sql.exec("INSERT INTO ordered_tokens (id, expires_at, units, audit) VALUES (?, ?, ?, ?)", id, now + 300_000, "{}", audit);
    } else {
      sql.exec(
        "INSERT INTO issued_tokens (jti, issued_at, expires_at, units) VALUES (?, ?, ?, ?)",
        crypto.randomUUID(),
        now,
        now + 300_000,
        "{}",
      );
      sql.exec("INSERT INTO audit_outbox (shard, body) VALUES (?, ?)", "shard", audit);
    }
    return true;
  }
}

async function verify(assertion: string, env: FloorEnv): Promise<{ agentId: string; jti: string; exp: number }> {
  const agentId = decodeJwt(assertion).iss;
  if (typeof agentId !== "string") throw new TypeError("no iss");
  const { payload } = await jwtVerify(assertion, (header) => agentKey(header, env), {
    algorithms: [SIGNING_ALG],
    issuer: agentId,
    subject: agentId,
    audience: env.FLOOR_AUDIENCE,
    clockTolerance: ASSERTION_CLOCK_TOLERANCE_SECONDS,
    requiredClaims: ["exp", "jti"],
  });
  return { agentId, jti: String(payload.jti), exp: Number(payload.exp) };
}

function agentKey(header: JWTHeaderParameters, env: FloorEnv): Promise<CryptoKey> {
  agentKeys ??= new Map();
  const kid = String(header.kid);
  let key = agentKeys.get(kid);
  if (!key) {
    const jwk = (JSON.parse(env.FLOOR_AGENT_KEYS) as Record<string, JWK>)[kid];
    if (!jwk) throw new TypeError(`unknown kid ${kid}`);
    key = importJWK(jwk, SIGNING_ALG) as Promise<CryptoKey>;
    agentKeys.set(kid, key);
  }
  return key;
}

/** Claims shaped like a Writ access token, so the signed input is the same size. */
async function sign(agentId: string): Promise<string> {
  signingKey ??= generateKeyPair(SIGNING_ALG, { extractable: true }).then(async ({ privateKey }) => ({
    key: privateKey,
    kid: `floor-${(await exportJWK(privateKey)).x?.slice(0, 8)}`,
  }));
  const { key, kid } = await signingKey;
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({
    client_id: agentId,
    scope: "crm.customers.read",
    authorization_details: [
      {
        type: "agent_use_case",
        use_case: "crm.customers.read",
        actions: ["read"],
        locations: ["https://crm.example.com/tables/customers"],
        limits: { max_rows: 100 },
      },
    ],
  })
    .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: "at+jwt" })
    .setIssuer("https://writ.example.com")
    .setSubject(agentId)
    .setAudience("https://crm.example.com")
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + TOKEN_TTL_SECONDS)
    .setJti(crypto.randomUUID())
    .sign(key);
}

function tokenResponse(accessToken: string): Response {
  return Response.json(
    { access_token: accessToken, token_type: "Bearer", expires_in: TOKEN_TTL_SECONDS, scope: "crm.customers.read" },
    { headers: { "Cache-Control": "no-store" } },
  );
}
