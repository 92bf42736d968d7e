/**
 * Property-based fuzzing of POST /bc-authorize (OpenID CIBA §7) through the whole Worker: requests from
 * test/support/form-arbitraries.ts with honest, flawed and replayed assertions. Whatever is sent, the broker never
 * answers 5xx; an approval request is opened only for a genuine, fresh assertion, only for a use case that needs
 * approval, and only for what the policy allows (the frozen grant in the request's Durable Object is checked against
 * test/support/policy-oracle.ts); a refusal is a well-formed error and opens nothing: no ledger row moves and no
 * approver is mailed. Seeded: see test/support/fuzz.ts to replay a failure.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import policyDocument from "writ-policy";
import { type CompiledPolicy, compilePolicy } from "../../../core/policy/compile-policy.ts";
import { DEV_OUTBOX_NAME } from "../../../durable-objects/dev-outbox.ts";
import type { RequestedGrant } from "../../../schemas/approval.ts";
import { type Answer, expectNothingSpent, expectWireRefusal, rememberBurnt, sendLogged } from "../../support/endpoint-checks.ts";
import { buildRequest, type FormRecipe, formRecipeArb } from "../../support/form-arbitraries.ts";
import { checkProperty, PROPERTY_TIMEOUT_MS } from "../../support/fuzz.ts";
import { attackerKeys, type SigningKeys } from "../../support/jwt-patches.ts";
import { type LedgerSnapshot, ledgerSnapshots } from "../../support/ledger-snapshot.ts";
import { askedInForm, violationsOf } from "../../support/policy-oracle.ts";
import { type BuiltProof, DEMO_AGENTS, isGenuine, proofKeys } from "../../support/proof-arbitraries.ts";

const CASES = 150;
const AUTH_REQ_ID = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/;

const policy: CompiledPolicy = compilePolicy(policyDocument);
let keys: Map<string, SigningKeys>;
/** The assertion each agent's ledger burnt last: what a replaying attacker sends. */
const burnt = new Map<string, string>();

beforeAll(async () => {
  keys = await proofKeys(await attackerKeys());
});

/** CIBA §7.1 client authentication: the client assertion when there is one, else the assertion as subject_token. */
function proofRelied(recipe: FormRecipe, proof: BuiltProof, second: BuiltProof): BuiltProof | undefined {
  if (recipe.clientAuth !== "none") return proof;
  if (recipe.subject === "none") return undefined;
  return recipe.subject === "same" ? proof : second;
}

/** The newest approval mail's id: a request that mailed nobody leaves it where it was. */
function lastMailId(): Promise<number> {
  return runInDurableObject(
    env.DEV_OUTBOX_STORE.getByName(DEV_OUTBOX_NAME),
    (_outbox, state) => state.storage.sql.exec<{ id: number | null }>("SELECT MAX(id) AS id FROM mail").one().id ?? 0,
  );
}

/** The request as frozen in its Durable Object: what approvers are shown and what a token for it would say. */
function frozenRequest(approvalId: string): Promise<{ agent_id: string; grant: RequestedGrant; created_at: number }> {
  return runInDurableObject(env.APPROVAL_REQUEST.getByName(approvalId), (_request, state) => {
    const row = state.storage.sql
      .exec<{ agent_id: string; grant_json: string; created_at: number }>("SELECT agent_id, grant_json, created_at FROM request")
      .one();
    return { agent_id: row.agent_id, grant: JSON.parse(row.grant_json) as RequestedGrant, created_at: row.created_at };
  });
}

async function expectOpenedWithinPolicy(
  answer: Answer,
  recipe: FormRecipe,
  relied: BuiltProof | undefined,
  after: Record<string, LedgerSnapshot>,
) {
  expect(Object.keys(answer.body).sort()).toEqual(["auth_req_id", "expires_in", "interval"]);
  expect(answer.body.auth_req_id).toMatch(AUTH_REQ_ID);
  // Identity: only a genuine, fresh assertion opens a request, and only for its own agent.
  expect(relied !== undefined && isGenuine(relied)).toBe(true);
  const approvalId = String(answer.body.auth_req_id).split(".")[0] ?? "";
  const { agent_id, grant, created_at } = await frozenRequest(approvalId);
  expect(agent_id).toBe(relied?.recipe.agent);
  expect(after[agent_id]?.open_approvals).toContainEqual(expect.objectContaining({ approval_id: approvalId }));
  // Policy: what approvers are asked to approve is within the policy, and the use case really needs them.
  const asked = askedInForm(recipe.params, { openidSetAside: true });
  expect(violationsOf(policy.document, grant, asked, new Date(created_at))).toEqual([]);
  expect(policy.useCases.get(grant.useCaseId)?.approval).toBeDefined();
}

describe("POST /bc-authorize under generated requests", () => {
  it("never answers 5xx, opens approval only within policy for a genuine assertion, and opens nothing when it refuses", {
    timeout: PROPERTY_TIMEOUT_MS,
  }, async () => {
    await checkProperty(
      fc.asyncProperty(formRecipeArb(policy.document, "/bc-authorize"), async (recipe) => {
        const { proof, second, body, headers } = await buildRequest(recipe, keys, burnt);
        const [before, mailBefore] = [await ledgerSnapshots(DEMO_AGENTS), await lastMailId()];
        const answer = await sendLogged("/bc-authorize", body, headers);
        const after = await ledgerSnapshots(DEMO_AGENTS);
        rememberBurnt(burnt, [proof, second], after);

        if (answer.status === 200) return expectOpenedWithinPolicy(answer, recipe, proofRelied(recipe, proof, second), after);
        expectWireRefusal(answer, [proof, second]);
        expectNothingSpent(before, after);
        expect(await lastMailId()).toBe(mailBefore);
      }),
      CASES,
    );
  });
});
