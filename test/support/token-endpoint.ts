/**
 * POST /token as an outside client sends it, with the request's one log line to see the internal reason, and the
 * agent's replay ledger to see what a request spent (token-checks.ts holds what the security tests pin).
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import worker from "../../worker/index.ts";
import { ISSUER } from "./assertions.ts";
import { CUSTOMERS_READ } from "./demo-policy.ts";
import { FORM_CONTENT_TYPE } from "./http.ts";
import { type RequestLogLine, withRequestLog } from "./logs.ts";
import { clientCredentialsParams, tokenExchangeParams } from "./oauth.ts";

export const TOKEN_ENDPOINT = `${ISSUER}/token`;

/** client_credentials with private_key_jwt (RFC 7523 §2.2), for the open use case unless `extra` says otherwise. */
export function clientCredentialsForm(assertion: string, extra: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams(clientCredentialsParams(assertion, { scope: CUSTOMERS_READ, ...extra }));
}

/** RFC 8693 token exchange with the agent's assertion as subject_token, for the open use case unless `extra` says otherwise. */
export function tokenExchangeForm(subjectToken: string, extra: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams(tokenExchangeParams(subjectToken, { scope: CUSTOMERS_READ, ...extra }));
}

export type TokenExchangeResult = { status: number; headers: Headers; body: Record<string, unknown>; log: RequestLogLine };

/** POST /token through the Worker's fetch handler, as any HTTP client would. */
export function postToken(body: BodyInit, headers: Record<string, string> = { "content-type": FORM_CONTENT_TYPE }) {
  return exchangeLogged(() => exports.default.fetch(TOKEN_ENDPOINT, { method: "POST", headers, body }));
}

/**
 * Hands a Request object straight to the Worker's handler, so that headers the runtime would rewrite on a real
 * connection (a lying Content-Length) reach the broker exactly as an attacker wrote them.
 */
export function sendRawRequest(request: Request) {
  return exchangeLogged(async () => worker.fetch(request, env));
}

async function exchangeLogged(send: () => Promise<Response>): Promise<TokenExchangeResult> {
  const { result, lines } = await withRequestLog(async () => {
    const response = await send();
    return { response, body: await response.json<Record<string, unknown>>() };
  });
  expect(lines).toHaveLength(1);
  return { status: result.response.status, headers: result.response.headers, body: result.body, log: lines[0] as RequestLogLine };
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
