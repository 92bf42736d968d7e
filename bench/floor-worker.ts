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
const VERIFY_ROUTES = new Set(["/verify-sign", "/verify-sign-write", "/verify-sign-write2"]);
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
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS used (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID");
  }

  record(jti: string, expiresAt: number): boolean {
    const inserted = this.ctx.storage.sql.exec("INSERT OR IGNORE INTO used (jti, expires_at) VALUES (?, ?)", jti, expiresAt);
    return inserted.rowsWritten === 1;
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
