/**
 * Shared tools for the attack suite: talk to POST /token exactly as an outside client would (through the
 * Worker's own fetch handler), capture the request's one log line to see the internal reason, and read an
 * agent's replay ledger to prove that a refused request wrote nothing.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { base64url, decodeJwt, importJWK, type JWK, type JWTPayload, SignJWT } from "jose";
import { expect, vi } from "vitest";
import { signAgentAssertion } from "../../client/index.ts";
import type { IdentityFailure, ReasonCode } from "../../core/refusals.ts";
import demoAgentKeys from "../../policy/demo-agent-keys.json";
import worker from "../../worker/index.ts";

export const ISSUER = "http://127.0.0.1:8787";
export const TOKEN_ENDPOINT = `${ISSUER}/token`;
export const FORM_CONTENT_TYPE = "application/x-www-form-urlencoded";
export const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
export const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";
/** What every client-authentication failure says on the wire, whatever actually failed (STYLE habit 1). */
export const GENERIC_CLIENT_FAILURE = "client authentication failed";
/** A use case that support-bot and billing-agent may use with no condition and no approval. */
export const OPEN_USE_CASE = "crm.customers.read";

export type AgentId = "support-bot" | "billing-agent" | "report-bot" | "retired-bot";
export type PrivateAgentJwk = JWK & { kid: string; alg: string };
const AGENT_KEYS = demoAgentKeys as Record<AgentId, PrivateAgentJwk>;

/** The agent's registered private key (the demo keys are public test fixtures). */
export function agentPrivateJwk(agentId: AgentId): PrivateAgentJwk {
  return AGENT_KEYS[agentId];
}

/** The public half, as registered in the policy: what an attacker can always read. */
export function agentPublicJwk(agentId: AgentId): JWK {
  const { d: _private, ...publicJwk } = agentPrivateJwk(agentId);
  return publicJwk;
}

/** A valid assertion, produced by the agent SDK exactly as an honest agent would. */
export function validAssertion(agentId: AgentId, options: { audience?: string; lifetimeSeconds?: number } = {}): Promise<string> {
  return signAgentAssertion({ privateJwk: agentPrivateJwk(agentId), agentId, audience: options.audience ?? ISSUER, ...options });
}

/** Claims of a well-formed assertion; a value of `undefined` in `overrides` removes that claim. */
export function assertionClaims(agentId: string, overrides: Record<string, unknown> = {}): JWTPayload {
  const iat = nowSeconds();
  const claims: Record<string, unknown> = { iss: agentId, sub: agentId, aud: ISSUER, iat, exp: iat + 60, jti: crypto.randomUUID() };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete claims[name];
    else claims[name] = value;
  }
  return claims;
}

/** Signs arbitrary claims with the agent's real key: the signature is genuine, so only the claim checks can refuse it. */
export async function signWithAgentKey(agentId: AgentId, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const jwk = agentPrivateJwk(agentId);
  const alg = typeof header.alg === "string" ? header.alg : jwk.alg;
  return new SignJWT(claims).setProtectedHeader({ alg, kid: jwk.kid, ...header }).sign(await importJWK(jwk, alg));
}

/** A compact JWS assembled by hand, for what no honest library would produce (alg none, bad encodings). */
export function handmadeJwt(header: unknown, payload: unknown, signature = ""): string {
  return `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}.${signature}`;
}

export function jtiOf(jwt: string): string {
  const { jti } = decodeJwt(jwt);
  if (typeof jti !== "string") throw new TypeError("token has no jti");
  return jti;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** client_credentials with private_key_jwt (RFC 7523 §2.2). */
export function clientCredentialsForm(assertion: string, extra: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams({
    grant_type: "client_credentials",
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: assertion,
    scope: OPEN_USE_CASE,
    ...extra,
  });
}

/** RFC 8693 token exchange with the agent's assertion as subject_token. */
export function tokenExchangeForm(subjectToken: string, extra: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams({
    grant_type: TOKEN_EXCHANGE,
    subject_token: subjectToken,
    subject_token_type: JWT_TOKEN_TYPE,
    scope: OPEN_USE_CASE,
    ...extra,
  });
}

/** The request's one log line (worker/middleware/request-log.ts). */
export type RequestLogLine = {
  event: "request";
  status: number;
  decision?: string;
  reason?: string;
  failure?: string;
  detail?: string;
  grant_type?: string;
  agent?: string;
  [field: string]: unknown;
};

export type TokenExchangeResult = { status: number; headers: Headers; body: Record<string, unknown>; log: RequestLogLine };

/** Runs `send` with console.log captured and returns the request log lines it produced (others are dropped). */
export async function withRequestLog<T>(send: () => Promise<T>): Promise<{ result: T; lines: RequestLogLine[] }> {
  const spy = vi.spyOn(console, "log").mockImplementation(() => undefined);
  try {
    const result = await send();
    const lines = spy.mock.calls
      .map(([first]) => (typeof first === "string" ? safeParse(first) : undefined))
      .filter((line): line is RequestLogLine => line?.event === "request");
    return { result, lines };
  } finally {
    spy.mockRestore();
  }
}

function safeParse(text: string): { event?: unknown } | undefined {
  try {
    return JSON.parse(text) as { event?: unknown };
  } catch {
    return undefined;
  }
}

/** POST /token through the Worker's fetch handler, as any HTTP client would. */
export function postToken(body: BodyInit, headers: Record<string, string> = { "content-type": FORM_CONTENT_TYPE }) {
  return exchange(() => exports.default.fetch(TOKEN_ENDPOINT, { method: "POST", headers, body }));
}

/**
 * Hands a Request object straight to the Worker's handler, so that headers the runtime would rewrite on a real
 * connection (a lying Content-Length) reach the broker exactly as an attacker wrote them.
 */
export function sendRawRequest(request: Request) {
  return exchange(async () => worker.fetch(request, env));
}

async function exchange(send: () => Promise<Response>): Promise<TokenExchangeResult> {
  const { result, lines } = await withRequestLog(async () => {
    const response = await send();
    return { response, body: await response.json<Record<string, unknown>>() };
  });
  expect(lines).toHaveLength(1);
  return { status: result.response.status, headers: result.response.headers, body: result.body, log: lines[0] as RequestLogLine };
}

export type ExpectedRefusal = {
  status: 400 | 401 | 403 | 413;
  error: string;
  reason: ReasonCode;
  /** Only for client_assertion_invalid / subject_token_invalid: which identity check failed (log only). */
  failure?: IdentityFailure;
  /** The exact error_description, when the test pins it. */
  description?: string | RegExp;
};

/** An RFC 6749 §5.2 error: exact status and code, no extra members, never cached, and the log holds the real reason. */
export function expectRefusal(result: TokenExchangeResult, expected: ExpectedRefusal): void {
  expect({ status: result.status, error: result.body.error }).toEqual({ status: expected.status, error: expected.error });
  expect(Object.keys(result.body).sort()).toEqual(["error", "error_description"]);
  expect(result.body.error_description).toEqual(expect.any(String));
  if (typeof expected.description === "string") expect(result.body.error_description).toBe(expected.description);
  else if (expected.description) expect(result.body.error_description).toMatch(expected.description);
  expect(result.headers.get("cache-control")).toBe("no-store");
  expect(result.body).not.toHaveProperty("access_token");
  expect(result.log).toMatchObject({ status: expected.status, decision: "denied", reason: expected.reason });
  expect(result.log.failure).toBe(expected.failure);
}

/** RFC 7523 §3.1 / STYLE habit 1: one generic invalid_client on the wire; which check failed appears only in the log. */
export function expectInvalidClient(result: TokenExchangeResult, failure: IdentityFailure): void {
  expectRefusal(result, {
    status: 401,
    error: "invalid_client",
    reason: "client_assertion_invalid",
    failure,
    description: GENERIC_CLIENT_FAILURE,
  });
  expectNoIdentityLeak(result, failure);
}

/** A bad subject_token is invalid_grant (RFC 8693 §2.2.2), with the same refusal to say why. */
export function expectInvalidSubjectToken(result: TokenExchangeResult, failure: IdentityFailure): void {
  expectRefusal(result, {
    status: 400,
    error: "invalid_grant",
    reason: "subject_token_invalid",
    failure,
    description: "subject_token is invalid",
  });
  expectNoIdentityLeak(result, failure);
}

function expectNoIdentityLeak(result: TokenExchangeResult, failure: IdentityFailure): void {
  const wire = JSON.stringify(result.body).toLowerCase();
  expect(wire).not.toContain(failure.replaceAll("_", " "));
  expect(wire).not.toContain(failure);
  expect(wire).not.toMatch(/signature|kid|key|alg|audience|expired|replay|agent|jti|iss|sub\b/);
}

export function expectIssued(result: TokenExchangeResult): string {
  expect(result.status).toBe(200);
  expect(result.headers.get("cache-control")).toBe("no-store");
  expect(result.log).toMatchObject({ status: 200, decision: "issued" });
  expect(result.body.access_token).toEqual(expect.any(String));
  return result.body.access_token as string;
}

/** Every jti the agent's AgentLedger remembers. Storage is shared across the tests of a file, so compare snapshots. */
export function ledgerJtis(agentId: string): Promise<string[]> {
  return runInDurableObject(env.AGENT_LEDGER.getByName(agentId), (_ledger, state) =>
    state.storage.sql
      .exec<{ jti: string }>("SELECT jti FROM used_assertions ORDER BY jti")
      .toArray()
      .map((row) => row.jti),
  );
}

/** The agent can still get a token with a fresh assertion: the refused attempt cost it nothing. */
export async function expectAgentStillServed(agentId: AgentId): Promise<void> {
  expectIssued(await postToken(clientCredentialsForm(await validAssertion(agentId))));
}

/** A refused request that carried a genuine support-bot assertion spent nothing: same ledger, and the assertion still works. */
export async function expectNotBurnt(assertion: string, before: string[]): Promise<void> {
  expect(await ledgerJtis("support-bot")).toEqual(before);
  expect(before).not.toContain(jtiOf(assertion));
  expectIssued(await postToken(clientCredentialsForm(assertion)));
}
