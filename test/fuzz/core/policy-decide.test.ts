/**
 * Property-based fuzzing of the policy decision (`core/policy/decide.ts`): random valid policies, requests drawn from
 * their names and from names just outside them, any instant. Deny by default means every grant that comes out must
 * be within the policy's rules (test/support/policy-oracle.ts); every refusal must be one of the policy's reasons;
 * and the answer must not depend on anything but its inputs. Seeded: see test/support/fuzz.ts to replay a failure.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CompiledPolicy, compilePolicy } from "../../../core/policy/compile-policy.ts";
import { decide } from "../../../core/policy/decide.ts";
import type { TokenReason } from "../../../core/refusals.ts";
import { PolicySchema } from "../../../schemas/policy.ts";
import { aimedRequestArb, useCaseRequestArb } from "../../support/arbitraries.ts";
import { checkProperty, PROPERTY_TIMEOUT_MS, samplesOf } from "../../support/fuzz.ts";
import { POLICY_WORDS, policyDocumentArb } from "../../support/policy-arbitraries.ts";
import { violationsOf } from "../../support/policy-oracle.ts";

/** The rules `decide` may refuse with: policy refusals only, never one about transport or identity. */
const POLICY_REFUSALS: ReadonlySet<TokenReason["code"]> = new Set<TokenReason["code"]>([
  "agent_disabled",
  "no_use_case",
  "several_use_cases",
  "scope_mismatch",
  "unknown_use_case",
  "use_case_not_allowed",
  "invalid_target",
  "audience_not_allowed",
  "invalid_authorization_details",
  "action_not_allowed",
  "location_not_allowed",
  "outside_time_window",
  "context_missing",
  "context_mismatch",
  "intent_required",
]);

/** 2020 to 2035: every weekday and minute of the day, leap years and the end of each month included. */
const instant = fc.date({ min: new Date("2020-01-01T00:00:00Z"), max: new Date("2035-12-31T23:59:59Z"), noInvalidDate: true });
/** Compiling costs more than deciding: each case picks one of these policies, all drawn from the run's seed. */
const POLICY_COUNT = 200;
const CASES = 5000;

/** Each case: one of the policies, a request aimed at one of its use cases or thrown together from its names, any instant. */
function decisions(documents: readonly unknown[]) {
  const thrownTogether = fc.record({ agentId: fc.constantFrom(...POLICY_WORDS.agents), request: useCaseRequestArb(POLICY_WORDS) });
  return fc.oneof(
    ...documents.map((document) => {
      const aimed = aimedRequestArb(PolicySchema.parse(document), POLICY_WORDS);
      const asked = fc.oneof({ weight: 3, arbitrary: aimed }, { weight: 1, arbitrary: thrownTogether });
      return fc.record({ document: fc.constant(document), asked, now: instant });
    }),
  );
}

describe("policy decision under random policies and requests", () => {
  it("grants only what the policy allows, refuses only with a policy rule, and answers the same twice", {
    timeout: PROPERTY_TIMEOUT_MS,
  }, async () => {
    const documents = samplesOf(policyDocumentArb, POLICY_COUNT);
    const compiled = new Map<unknown, CompiledPolicy>(documents.map((document) => [document, compilePolicy(document)]));
    await checkProperty(
      fc.property(decisions(documents), ({ document, asked: { agentId, request }, now }) => {
        const policy = compiled.get(document);
        if (!policy) throw new TypeError("a generated policy was not compiled");
        const result = decide(policy, agentId, request, now);
        expect(decide(policy, agentId, request, now)).toEqual(result);
        if (!result.ok) {
          expect(POLICY_REFUSALS).toContain(result.reason.code);
          return;
        }
        const grant = result.value;
        expect(violationsOf(policy.document, { ...grant, agentId: grant.agent.id, useCaseId: grant.useCase.id }, request, now)).toEqual([]);
        // A use case with approval yields a grant for humans to approve, never a token straight away.
        expect(grant.needsApproval).toBe(grant.useCase.approval !== undefined);
        expect(grant.context).toEqual(request.context ?? {});
      }),
      CASES,
    );
  });
});
