/**
 * fast-check generators for whole requests to POST /token and POST /bc-authorize as an attacker sends them: which
 * grant, which proofs where (client_assertion, subject_token, both, a second one), client_id, the use-case parameters
 * (aimed at the policy or thrown together), and abuse of the form itself: a repeated or unknown parameter, another
 * content type, a body over the 16 KiB cap, an Authorization header. Plain data, turned into a body by `formBody`.
 */
import fc from "fast-check";
import type { Policy } from "../../schemas/policy.ts";
import {
  aimedRequestArb,
  contextTextArb,
  detailsTextArb,
  intentTextArb,
  scopeArb,
  targetName,
  type Vocabulary,
  vocabularyOf,
} from "./arbitraries.ts";
import type { AgentId } from "./assertions.ts";
import { FORM_CONTENT_TYPE } from "./http.ts";
import type { SigningKeys } from "./jwt-patches.ts";
import { ACCESS_TOKEN_TYPE, CIBA_GRANT, CLIENT_ASSERTION_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE } from "./oauth.ts";
import { type BuiltProof, buildProof, DEMO_AGENTS, type ProofRecipe, proofRecipeArb } from "./proof-arbitraries.ts";

export type FormRecipe = {
  grantType?: string;
  agentId: AgentId;
  proof: ProofRecipe;
  /** A proof of its own for subject_token, when `subject` is "second". */
  secondProof: ProofRecipe;
  clientAuth: "assertion" | "none" | "wrong-type";
  subject: "none" | "same" | "second";
  subjectTokenType: string;
  clientId: "none" | "own" | "other";
  /** Use-case parameters as form text (scope, authorization_details, resource, audience, context, intent, binding_message). */
  params: Record<string, string>;
  /** A CIBA poll's auth_req_id: an open request's real one, a well-formed forgery, or any text. */
  authReqId?: "real" | "forged" | { text: string } | undefined;
  actorToken: boolean;
  duplicate?: string | undefined;
  extra: [string, string][];
  contentType: string;
  oversize: boolean;
  authorization?: string | undefined;
};

const sometimes = <T>(arbitrary: fc.Arbitrary<T>, absentWeight: number) =>
  fc.oneof({ weight: absentWeight, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
const textParams = (params: Record<string, string | undefined>): Record<string, string> =>
  Object.fromEntries(Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined));

/** Parameters aimed at one of the policy's use cases (most get past the early checks), or thrown together from its names. */
function useCaseParams(policy: Policy, v: Vocabulary) {
  const aimed = aimedRequestArb(policy, v).map(({ agentId, request }) => ({
    agentId: agentId as AgentId,
    params: textParams({
      scope: request.scope,
      authorization_details: request.authorizationDetails && JSON.stringify(request.authorizationDetails),
      resource: request.resource,
      audience: request.audience,
      intent: request.intent,
      context: request.context && JSON.stringify(request.context),
    }),
  }));
  const thrown = fc.record({
    agentId: fc.constantFrom(...DEMO_AGENTS),
    params: fc
      .record({
        scope: sometimes(fc.oneof(scopeArb(v), fc.string({ maxLength: 30 })), 1),
        authorization_details: sometimes(detailsTextArb(v), 2),
        resource: sometimes(targetName(v), 3),
        audience: sometimes(targetName(v), 3),
        intent: sometimes(intentTextArb, 2),
        context: sometimes(contextTextArb(v), 2),
      })
      .map(textParams),
  });
  return fc.oneof({ weight: 3, arbitrary: aimed }, { weight: 1, arbitrary: thrown });
}

/** What CIBA §7.1 lets an agent show its approvers: one line of text, or what must be refused. */
const bindingMessage = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 ,.-]{0,39}$/) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom("Pay \u202Eevil\u202C", "zero\u200Bwidth", "line\nbreak", "m".repeat(129), "   ") },
);

/** Abuse of the form itself, most requests having none. */
const formAbuse = fc.record({
  duplicate: sometimes(
    fc.constantFrom("grant_type", "scope", "client_assertion", "subject_token", "resource", "audience", "context", "client_id"),
    6,
  ),
  extra: fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ maxLength: 20 })), { maxLength: 2 }),
  contentType: fc.oneof(
    { weight: 12, arbitrary: fc.constant(FORM_CONTENT_TYPE) },
    { weight: 1, arbitrary: fc.constantFrom(`${FORM_CONTENT_TYPE}; charset=utf-8`, "APPLICATION/X-WWW-FORM-URLENCODED") },
    { weight: 1, arbitrary: fc.constantFrom("application/json", "text/plain", "multipart/form-data; boundary=x", "") },
  ),
  oversize: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  authorization: sometimes(fc.constantFrom("Basic c3VwcG9ydC1ib3Q6c2VjcmV0", "Bearer abc", "DPoP abc", "Bearer"), 12),
});

/** A request to POST /token (all three grants, and grants the broker does not offer) or, without a grant, POST /bc-authorize. */
export function formRecipeArb(policy: Policy, endpoint: "/token" | "/bc-authorize"): fc.Arbitrary<FormRecipe> {
  const v = vocabularyOf(policy);
  const grantType =
    endpoint === "/bc-authorize"
      ? fc.constant(undefined)
      : fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(TOKEN_EXCHANGE, "client_credentials") },
          { weight: 1, arbitrary: fc.constant(CIBA_GRANT) },
          { weight: 1, arbitrary: fc.constantFrom("password", "authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer", "") },
        );
  // Honest requests get tokens issued (and checked against the policy); forged ones carry one flawed proof in an
  // otherwise honest request, so that a token would be exactly that flaw accepted; the rest abuse anything at all.
  const mode = fc.oneof(
    { weight: 4, arbitrary: fc.constant("honest" as const) },
    { weight: 3, arbitrary: fc.constant("forged" as const) },
    { weight: 3, arbitrary: fc.constant("abuse" as const) },
  );
  return fc
    .record({ mode, grantType, asked: useCaseParams(policy, v), abuse: formAbuse, bindingMessage: sometimes(bindingMessage, 1) })
    .chain(({ mode, grantType, asked, abuse, bindingMessage }) =>
      fc
        .record({
          grantType: fc.constant(grantType),
          agentId: fc.constant(asked.agentId),
          proof: proofRecipeArb(fc.constant(asked.agentId)),
          secondProof: proofRecipeArb(fc.constantFrom(...DEMO_AGENTS)),
          clientAuth: fc.oneof(
            { weight: 6, arbitrary: fc.constant("assertion" as const) },
            { weight: 1, arbitrary: fc.constantFrom("none" as const, "wrong-type" as const) },
          ),
          subject: fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom("none" as const, "same" as const) },
            { weight: 1, arbitrary: fc.constant("second" as const) },
          ),
          subjectTokenType: fc.oneof(
            { weight: 8, arbitrary: fc.constant(JWT_TOKEN_TYPE) },
            { weight: 1, arbitrary: fc.constantFrom(ACCESS_TOKEN_TYPE, "jwt", "") },
          ),
          clientId: fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom("none" as const, "own" as const) },
            { weight: 1, arbitrary: fc.constant("other" as const) },
          ),
          params: fc.constant(
            endpoint === "/bc-authorize" && bindingMessage !== undefined
              ? { ...asked.params, binding_message: bindingMessage }
              : asked.params,
          ),
          authReqId: fc.oneof(
            { weight: 3, arbitrary: fc.constant("real" as const) },
            { weight: 1, arbitrary: fc.constantFrom("forged" as const, undefined) },
            { weight: 1, arbitrary: fc.string({ maxLength: 80 }).map((text) => ({ text })) },
          ),
          actorToken: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
          duplicate: fc.constant(abuse.duplicate),
          extra: fc.constant(abuse.extra),
          contentType: fc.constant(abuse.contentType),
          oversize: fc.constant(abuse.oversize),
          authorization: fc.constant(abuse.authorization),
        })
        .chain((recipe) => {
          if (mode === "abuse") return fc.constant(recipe);
          if (mode === "honest") return fc.constant(honestly(recipe));
          return proofRecipeArb(fc.constant(asked.agentId), { forged: true }).map((proof) => ({ ...honestly(recipe), proof }));
        }),
    );
}

/**
 * The same request as an honest agent sends it: a flawless fresh assertion as client authentication, a well-formed form.
 */
function honestly(recipe: FormRecipe): FormRecipe {
  const offered = recipe.grantType === undefined || [TOKEN_EXCHANGE, "client_credentials", CIBA_GRANT].includes(recipe.grantType);
  return {
    ...recipe,
    grantType: offered ? recipe.grantType : "client_credentials",
    proof: { agent: recipe.agentId, flaws: [], replay: false },
    clientAuth: "assertion",
    // RFC 8693 §2.1: token exchange needs the subject_token; the agent's own assertion serves as both (the contract).
    subject: recipe.grantType === TOKEN_EXCHANGE || recipe.subject === "second" ? "same" : recipe.subject,
    subjectTokenType: JWT_TOKEN_TYPE,
    clientId: recipe.clientId === "other" ? "own" : recipe.clientId,
    authReqId: "real",
    actorToken: false,
    duplicate: undefined,
    extra: [],
    contentType: FORM_CONTENT_TYPE,
    oversize: false,
    authorization: undefined,
  };
}

/** What the recipe's proofs turned into, and auth_req_ids for polls: an open request's real one and a well-formed forgery. */
type FormInputs = { proof: string; secondProof: string; realAuthReqId: string; forgedAuthReqId: string };

/** The recipe's proofs signed now (a replay resends one of `burnt`), and the body and headers it describes. */
export async function buildRequest(
  recipe: FormRecipe,
  keys: Map<string, SigningKeys>,
  burnt: ReadonlyMap<string, string>,
  authReqIds: { real: string; forged: string } = { real: "", forged: "" },
): Promise<{ proof: BuiltProof; second: BuiltProof; body: string; headers: Record<string, string> }> {
  const proof = await buildProof(recipe.proof, keys, burnt);
  const second = await buildProof(recipe.secondProof, keys, burnt);
  const inputs = { proof: proof.jwt, secondProof: second.jwt, realAuthReqId: authReqIds.real, forgedAuthReqId: authReqIds.forged };
  return { proof, second, ...formBody(recipe, inputs) };
}

function formBody(recipe: FormRecipe, inputs: FormInputs): { body: string; headers: Record<string, string> } {
  const form = new URLSearchParams();
  if (recipe.grantType !== undefined) form.append("grant_type", recipe.grantType);
  if (recipe.clientId !== "none") form.append("client_id", recipe.clientId === "own" ? recipe.agentId : "billing-agent");
  if (recipe.clientAuth !== "none") {
    form.append("client_assertion_type", recipe.clientAuth === "assertion" ? CLIENT_ASSERTION_TYPE : "urn:example:password");
    form.append("client_assertion", inputs.proof);
  }
  if (recipe.subject !== "none") {
    form.append("subject_token", recipe.subject === "same" ? inputs.proof : inputs.secondProof);
    form.append("subject_token_type", recipe.subjectTokenType);
  }
  if (recipe.actorToken) form.append("actor_token", inputs.secondProof);
  for (const [name, value] of Object.entries(recipe.params)) form.append(name, value);
  if (recipe.grantType === CIBA_GRANT && recipe.authReqId !== undefined) {
    const { authReqId } = recipe;
    form.append(
      "auth_req_id",
      authReqId === "real" ? inputs.realAuthReqId : authReqId === "forged" ? inputs.forgedAuthReqId : authReqId.text,
    );
  }
  for (const [name, value] of recipe.extra) form.append(name, value);
  if (recipe.duplicate !== undefined) form.append(recipe.duplicate, form.get(recipe.duplicate) ?? "x");
  if (recipe.oversize) form.append("padding", "p".repeat(17 * 1024));
  const headers: Record<string, string> = recipe.contentType === "" ? {} : { "content-type": recipe.contentType };
  if (recipe.authorization !== undefined) headers.authorization = recipe.authorization;
  return { body: form.toString(), headers };
}
