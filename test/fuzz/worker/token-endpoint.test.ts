/**
 * Property-based fuzzing of POST /token through the whole Worker, all three grants (RFC 8693 token exchange,
 * client_credentials with RFC 7523 private_key_jwt, the OpenID CIBA poll) and grants it does not offer: requests
 * from test/support/form-arbitraries.ts, with honest, flawed and replayed assertions (proof-arbitraries.ts). Whatever
 * is sent, the broker never answers 5xx; a token comes out only for a genuine, fresh assertion and only within the
 * policy (test/support/policy-oracle.ts); a refusal is a well-formed RFC 6749 §5.2 error whose log names a real
 * flaw, and it spends nothing in any agent's ledger (a CIBA poll burns its own assertion, by design: CIBA §10.1).
 * Fewer, larger cases than the pure properties: each one is a real request and eight ledger reads. Seeded: see
 * test/support/fuzz.ts to replay a failure.
 */
import fc from "fast-check";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import policyDocument from "writ-policy";
import { type CompiledPolicy, compilePolicy } from "../../../core/policy/compile-policy.ts";
import { randomSecret } from "../../../lib/crypto.ts";
import { startApproval } from "../../support/ciba.ts";
import { CUSTOMERS_EXPORT } from "../../support/demo-policy.ts";
import {
  type Answer,
  expectNoProofIn,
  expectNothingSpent,
  expectWireRefusal,
  jtiOf,
  rememberBurnt,
  sendLogged,
} from "../../support/endpoint-checks.ts";
import { buildRequest, type FormRecipe, formRecipeArb } from "../../support/form-arbitraries.ts";
import { checkProperty, PROPERTY_TIMEOUT_MS } from "../../support/fuzz.ts";
import { attackerKeys, type SigningKeys } from "../../support/jwt-patches.ts";
import { type LedgerSnapshot, ledgerSnapshots } from "../../support/ledger-snapshot.ts";
import { ACCESS_TOKEN_TYPE, CIBA_GRANT, TOKEN_EXCHANGE } from "../../support/oauth.ts";
import { askedInForm, violationsOf } from "../../support/policy-oracle.ts";
import { type BuiltProof, DEMO_AGENTS, isGenuine, proofKeys } from "../../support/proof-arbitraries.ts";

const CASES = 300;
/** What a CIBA poll answers for an existing request it may poll: the poll burns its assertion first (CIBA §10.1). */
const POLL_ANSWERS = [
  "authorization_pending",
  "slow_down",
  "approval_denied",
  "approval_cancelled",
  "approval_expired",
  "approval_collected",
  "auth_req_id_invalid",
];

const policy: CompiledPolicy = compilePolicy(policyDocument);
let keys: Map<string, SigningKeys>;
/** The assertion each agent's ledger burnt last: what a replaying attacker sends. */
const burnt = new Map<string, string>();
let realAuthReqId: string;

beforeAll(async () => {
  keys = await proofKeys(await attackerKeys());
  // An open approval request of support-bot's, for polls to find: pending, so no poll may ever get a token from it.
  const opened = await startApproval("support-bot", {
    scope: CUSTOMERS_EXPORT,
    intent: "export the customers named on ticket SUP-1",
    context: JSON.stringify({ ticket: "SUP-1" }),
  });
  expect(opened.status).toBe(200);
  realAuthReqId = (await opened.json<{ auth_req_id: string }>()).auth_req_id;
});

/** The proofs a grant relies on: client_assertion, and for token exchange subject_token (client_credentials ignores it, RFC 6749 §3.2). */
function proofsRelied(recipe: FormRecipe, proof: BuiltProof, second: BuiltProof): BuiltProof[] {
  const relied = recipe.clientAuth === "none" ? [] : [proof];
  if (recipe.grantType !== TOKEN_EXCHANGE) return relied;
  if (recipe.subject === "same") relied.push(proof);
  if (recipe.subject === "second") relied.push(second);
  return relied;
}

function expectTokenWithinPolicy(
  answer: Answer,
  recipe: FormRecipe,
  sent: readonly BuiltProof[],
  before: Record<string, LedgerSnapshot>,
  after: Record<string, LedgerSnapshot>,
) {
  const token = answer.body.access_token as string;
  const claims = decodeJwt(token);
  expect(decodeProtectedHeader(token).typ).toBe("at+jwt");
  // Identity: only a genuine, fresh assertion of the agent the token is for (a pending approval never yields one).
  expect([TOKEN_EXCHANGE, "client_credentials"]).toContain(recipe.grantType);
  expect(sent.length).toBeGreaterThan(0);
  expect(sent.every(isGenuine)).toBe(true);
  expect(new Set(sent.map((p) => p.recipe.agent))).toEqual(new Set([claims.sub]));
  // Policy: the token is what the policy allows this agent, now, for what it asked; and no human had to approve it.
  const [granted] = claims.authorization_details as [{ actions: string[]; locations: string[]; limits: Record<string, unknown> }];
  const issued = {
    agentId: String(claims.sub),
    useCaseId: String(claims.scope),
    audience: String(claims.aud),
    ...granted,
    ttlSeconds: Number(claims.exp) - Number(claims.iat),
    intent: claims.intent as string | undefined,
  };
  expect(violationsOf(policy.document, issued, askedInForm(recipe.params), new Date(Number(claims.iat) * 1000))).toEqual([]);
  expect(policy.useCases.get(issued.useCaseId)?.approval).toBeUndefined();
  expect(answer.body).toMatchObject({ token_type: "Bearer", expires_in: issued.ttlSeconds, scope: issued.useCaseId });
  expect(answer.body.issued_token_type !== undefined).toBe(recipe.grantType === TOKEN_EXCHANGE);
  // The ledger recorded the token and burnt its proofs; no other agent's ledger moved.
  const ledger = after[issued.agentId];
  expect(ledger?.issued_tokens).toContainEqual(expect.objectContaining({ jti: claims.jti }));
  for (const proof of sent) expect(ledger?.used_assertions).toContainEqual(expect.objectContaining({ jti: jtiOf(proof) }));
  for (const agent of DEMO_AGENTS) if (agent !== issued.agentId) expect(after[agent]).toEqual(before[agent]);
  expectNoProofIn(JSON.stringify(answer.log), sent);
}

/**
 * A subject_token of type access_token asks for delegation: the subject is then checked as the broker's own access
 * token, which no generated proof is (none is signed by the broker), so any of those checks may be the one that fails.
 */
function delegationSubjectFailures(recipe: { subjectTokenType: string }, answer: { log: Record<string, unknown> }): string[] {
  if (recipe.subjectTokenType !== ACCESS_TOKEN_TYPE || answer.log.reason !== "subject_token_invalid") return [];
  return [
    "expired",
    "bad_signature",
    "unknown_key",
    "algorithm_not_allowed",
    "untrusted_issuer",
    "not_yet_valid",
    "missing_claim",
    "malformed",
    "sender_constrained",
  ];
}

describe("POST /token under generated requests", () => {
  it("never answers 5xx, issues only within policy for a genuine assertion, and spends nothing when it refuses", {
    timeout: PROPERTY_TIMEOUT_MS,
  }, async () => {
    await checkProperty(
      fc.asyncProperty(formRecipeArb(policy.document, "/token"), async (recipe) => {
        const forged = `${randomSecret(16)}.${randomSecret()}`;
        const { proof, second, body, headers } = await buildRequest(recipe, keys, burnt, { real: realAuthReqId, forged });
        const before = await ledgerSnapshots(DEMO_AGENTS);
        const answer = await sendLogged("/token", body, headers);
        const after = await ledgerSnapshots(DEMO_AGENTS);
        const sent = proofsRelied(recipe, proof, second);
        rememberBurnt(burnt, [proof, second], after);

        if (answer.status === 200) return expectTokenWithinPolicy(answer, recipe, sent, before, after);
        expectWireRefusal(answer, [proof, second], delegationSubjectFailures(recipe, answer));
        const polled = recipe.grantType === CIBA_GRANT && POLL_ANSWERS.includes(String(answer.log.reason));
        expectNothingSpent(before, after, polled ? { agent: proof.recipe.agent, jtis: [jtiOf(proof)] } : undefined);
      }),
      CASES,
    );
  });
});
