/**
 * What the fuzz properties of POST /token and POST /bc-authorize pin about every answer: never a 5xx; a refusal is
 * an RFC 6749 §5.2 error (exact members, no-store, the request id, a challenge or Retry-After where due) whose log
 * line names a real flaw and no proof; and a refused request spends nothing in any agent's ledger.
 */
import { exports } from "cloudflare:workers";
import { decodeJwt } from "jose";
import { expect } from "vitest";
import { ISSUER } from "./assertions.ts";
import type { LedgerSnapshot } from "./ledger-snapshot.ts";
import { type RequestLogLine, withRequestLog } from "./logs.ts";
import { type BuiltProof, failuresOf, isGenuine } from "./proof-arbitraries.ts";

export type Answer = { status: number; headers: Headers; text: string; body: Record<string, unknown>; log: RequestLogLine };

/** A POST through the broker's own fetch handler, with the request's one log line; the body is read as text first (a 5xx need not be JSON). */
export async function sendLogged(path: string, body: string, headers: Record<string, string>): Promise<Answer> {
  const { result, lines } = await withRequestLog(async () => {
    const response = await exports.default.fetch(`${ISSUER}${path}`, { method: "POST", headers, body });
    return { status: response.status, headers: response.headers, text: await response.text() };
  });
  expect(result.status, result.text).toBeLessThan(500);
  expect(lines).toHaveLength(1);
  const parsed: unknown = JSON.parse(result.text);
  expect(parsed).toEqual(expect.any(Object));
  return { ...result, body: parsed as Record<string, unknown>, log: lines[0] as RequestLogLine };
}

/** The error codes these endpoints may answer with (RFC 6749 §5.2, RFC 8707, RFC 9396, OpenID CIBA §7.3 and §11). */
const OAUTH_ERRORS = [
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unsupported_grant_type",
  "invalid_scope",
  "invalid_target",
  "invalid_authorization_details",
  "access_denied",
  "rate_limited",
  "approval_required",
  "authorization_pending",
  "slow_down",
  "expired_token",
];

/** An RFC 6749 §5.2 refusal that says what it must and nothing more. */
export function expectWireRefusal(answer: Answer, proofs: readonly BuiltProof[], alsoFailing: readonly string[] = []): void {
  expect([400, 401, 403, 413, 429]).toContain(answer.status);
  expect(Object.keys(answer.body).sort()).toEqual(["error", "error_description"]);
  expect(OAUTH_ERRORS).toContain(answer.body.error);
  expect(answer.body.error_description).toEqual(expect.any(String));
  expect(answer.headers.get("cache-control")).toBe("no-store");
  expect(answer.headers.get("x-request-id")).toBe(answer.log.request_id);
  if (answer.status === 429) expect(answer.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
  if (answer.body.error === "invalid_client" && answer.log.reason === "client_auth_method_unsupported")
    expect(answer.headers.get("www-authenticate")).toEqual(expect.any(String));
  expect(answer.log).toMatchObject({ status: answer.status, decision: "denied", reason: expect.any(String) });
  // Which identity check failed is logged, never sent (STYLE habit 1); and it must be a check the proofs really fail.
  if (answer.log.failure !== undefined) expect([...failuresOf(proofs), "client_id_mismatch", ...alsoFailing]).toContain(answer.log.failure);
  expectNoProofIn(`${answer.text} ${JSON.stringify(answer.log)}`, proofs);
}

/** Neither the wire nor the log may carry an assertion, or its signature. */
export function expectNoProofIn(text: string, proofs: readonly BuiltProof[]): void {
  for (const { jwt } of proofs) for (const part of [jwt, ...jwt.split(".")].filter((p) => p.length >= 20)) expect(text).not.toContain(part);
}

/** The jti of a proof, when it has a readable one. */
export function jtiOf(proof: BuiltProof): string | undefined {
  try {
    const { jti } = decodeJwt(proof.jwt);
    return typeof jti === "string" ? jti : undefined;
  } catch {
    return undefined;
  }
}

/** Ledgers after a request equal those before, except for `allowed` burnt assertion ids of `agent` (a CIBA poll burns its proof). */
export function expectNothingSpent(
  before: Record<string, LedgerSnapshot>,
  after: Record<string, LedgerSnapshot>,
  allowed: { agent: string; jtis: readonly (string | undefined)[] } = { agent: "", jtis: [] },
): void {
  const burntBefore = new Set((before[allowed.agent]?.used_assertions ?? []).map((row) => (row as { jti: string }).jti));
  const unexplained = Object.fromEntries(
    Object.entries(after).map(([agent, snapshot]) => {
      if (agent !== allowed.agent) return [agent, snapshot];
      const used = snapshot.used_assertions.filter((row) => {
        const { jti } = row as { jti: string };
        return burntBefore.has(jti) || !allowed.jtis.includes(jti);
      });
      return [agent, { ...snapshot, used_assertions: used }];
    }),
  );
  expect(unexplained).toEqual(before);
}

/** Notes the genuine proofs the ledgers now hold as burnt, by agent: what a replaying attacker sends next. */
export function rememberBurnt(burnt: Map<string, string>, proofs: readonly BuiltProof[], after: Record<string, LedgerSnapshot>): void {
  for (const proof of proofs) {
    const jti = jtiOf(proof);
    if (isGenuine(proof) && after[proof.recipe.agent]?.used_assertions.some((row) => (row as { jti: string }).jti === jti))
      burnt.set(proof.recipe.agent, proof.jwt);
  }
}
