/** What every security test pins about an answer of POST /token: the exact wire body, the logged reason, and that a refusal spent nothing. */
import { expect } from "vitest";
import type { IdentityFailure, ReasonCode } from "../../core/refusals.ts";
import { type AgentId, assertionFor, jtiOf } from "./assertions.ts";
import { clientCredentialsForm, ledgerJtis, postToken, type TokenExchangeResult } from "./token-endpoint.ts";

/** What every client-authentication failure says on the wire, whatever actually failed (STYLE habit 1). */
export const GENERIC_CLIENT_FAILURE = "client authentication failed";

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

/** The agent can still get a token with a fresh assertion: the refused attempt cost it nothing. */
export async function expectAgentStillServed(agentId: AgentId): Promise<void> {
  expectIssued(await postToken(clientCredentialsForm(await assertionFor(agentId))));
}

/** A refused request that carried a genuine support-bot assertion spent nothing: same ledger, and the assertion still works. */
export async function expectNotBurnt(assertion: string, before: string[]): Promise<void> {
  expect(await ledgerJtis("support-bot")).toEqual(before);
  expect(before).not.toContain(jtiOf(assertion));
  expectIssued(await postToken(clientCredentialsForm(assertion)));
}
