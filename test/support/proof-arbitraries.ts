/**
 * fast-check generators for the identity proofs of the token endpoint and /bc-authorize (RFC 7523 §3 assertions,
 * sent as client_assertion or subject_token): a demo agent's honest assertion, or one with flaws an attacker
 * introduces, each naming the identity failure (`core/refusals/token.ts`) the broker's log may give for it. A proof
 * without flaws, of a demo agent, and not replayed is genuine: the only kind that may ever yield a token.
 */
import fc from "fast-check";
import type { IdentityFailure } from "../../core/refusals.ts";
import { type AgentId, agentPrivateJwk, agentPublicJwk, agentSigningKey, assertionClaims, ISSUER } from "./assertions.ts";
import { buildJwt, type JwtPatch, patchedJwt, type SigningKeys, trustedKey } from "./jwt-patches.ts";

type IdentityPatch = JwtPatch<IdentityFailure>;
/** An agent the policy does not know, signing with a key of its own. */
export const STRANGER = "evil-bot";
export const DEMO_AGENTS: readonly AgentId[] = ["support-bot", "billing-agent", "report-bot", "retired-bot"];

/** Who signs, what is wrong with it, and whether an assertion the broker already burnt is sent again instead. */
export type ProofRecipe = { agent: AgentId | typeof STRANGER; flaws: IdentityPatch[]; replay: boolean };

const flaw = (label: string, codes: readonly IdentityFailure[], rest: Omit<IdentityPatch, "label" | "codes">): IdentityPatch => ({
  label,
  codes,
  ...rest,
});
const FOREIGN = "https://evil.example.com";

const flawsBySigner = new Map<string, fc.Arbitrary<IdentityPatch>>();

/** Flaws that must each make a proof by `signer` fail, with the identity failures that name them (built once per signer). */
function identityFlaws(signer: string): fc.Arbitrary<IdentityPatch> {
  const built = flawsBySigner.get(signer) ?? flawsOf(signer);
  flawsBySigner.set(signer, built);
  return built;
}

function flawsOf(signer: string): fc.Arbitrary<IdentityPatch> {
  return fc.oneof(
    fc.constant(flaw("alg none", ["algorithm_not_allowed"], { header: { alg: "none" }, signer: "none" })),
    fc.constant(
      flaw("HS256 keyed with the agent's public JWK", ["algorithm_not_allowed"], { header: { alg: "HS256" }, signer: "hs256-public" }),
    ),
    fc.constant(flaw("RS256 by the attacker's key", ["algorithm_not_allowed"], { header: { alg: "RS256" }, signer: "attacker-rsa" })),
    fc
      .constantFrom("es256", "ES384", "", "EDDSA")
      .map((alg) => flaw("an alg outside the allow-list", ["algorithm_not_allowed", "malformed"], { header: { alg } })),
    fc.constant(
      flaw("ES256 by the attacker under the agent's kid", ["bad_signature", "key_type_mismatch"], {
        header: { alg: "ES256" },
        signer: "attacker",
      }),
    ),
    fc.constant(
      flaw("EdDSA by the attacker under the agent's kid", ["bad_signature", "key_type_mismatch"], {
        header: { alg: "EdDSA" },
        signer: "attacker-eddsa",
      }),
    ),
    fc.constant(flaw("an unregistered kid", ["unknown_key"], { header: { alg: "ES256", kid: "rogue-1" }, signer: "attacker" })),
    fc
      .constantFrom(FOREIGN, [FOREIGN], undefined, `${ISSUER}/`)
      .map((aud) => flaw("an audience other than the issuer", ["wrong_audience"], { claims: { aud } })),
    // Audience injection (RFC 7523bis): an assertion signed for another server too must not pass here.
    fc.constant(flaw("the issuer beside a foreign audience", ["wrong_audience"], { claims: { aud: [ISSUER, FOREIGN] } })),
    fc.integer({ min: 35, max: 100_000 }).map((ago) => flaw("expired", ["expired"], { times: { exp: -ago } })),
    fc
      .integer({ min: 301, max: 100_000 })
      .map((life) => flaw("a lifetime over five minutes", ["lifetime_too_long"], { times: { iat: 0, exp: life } })),
    fc.integer({ min: 35, max: 100_000 }).map((ahead) => flaw("issued in the future", ["issued_in_future"], { times: { iat: ahead } })),
    fc.integer({ min: 35, max: 100_000 }).map((ahead) => flaw("not yet valid", ["not_yet_valid"], { times: { nbf: ahead } })),
    fc.constant(flaw("no exp", ["missing_claim"], { claims: { exp: undefined } })),
    fc.constantFrom(undefined, "", "j".repeat(300), 42).map((jti) => flaw("no usable jti", ["missing_claim"], { claims: { jti } })),
    fc
      .constantFrom(...DEMO_AGENTS.filter((agent) => agent !== signer))
      .map((other) => flaw("iss and sub naming different agents", ["issuer_subject_mismatch"], { claims: { iss: other } })),
    fc.constantFrom(...DEMO_AGENTS.filter((agent) => agent !== signer)).map((other) =>
      flaw("claims of another agent under this agent's signature", ["unknown_key", "key_type_mismatch", "bad_signature"], {
        claims: { iss: other, sub: other },
      }),
    ),
    fc.constant(flaw("payload edited after signing", ["bad_signature"], { after: "tamper-payload" })),
    fc.constant(flaw("signature flipped", ["bad_signature"], { after: "flip-signature" })),
    fc.constant(flaw("signature stripped", ["bad_signature", "malformed"], { after: "strip-signature" })),
    fc
      .double({ min: 0.05, max: 0.99, noNaN: true })
      .map((at) => flaw("truncated", ["malformed", "bad_signature"], { after: { truncateAt: at } })),
  );
}

/**
 * A proof by `agent`: honest most of the time (so requests get past identity), flawed or replayed otherwise; with
 * `forged`, always one flaw, so that a request otherwise honest isolates it (a token then is the flaw accepted).
 */
export function proofRecipeArb(agent: fc.Arbitrary<AgentId>, { forged = false } = {}): fc.Arbitrary<ProofRecipe> {
  const signer = fc.oneof({ weight: 12, arbitrary: agent }, { weight: 1, arbitrary: fc.constant(STRANGER) });
  const honest = forged ? 0 : 3;
  return signer.chain((who) =>
    fc.record({
      agent: fc.constant(who),
      flaws: fc.oneof(
        { weight: honest, arbitrary: fc.constant<IdentityPatch[]>([]) },
        { weight: 2, arbitrary: fc.uniqueArray(identityFlaws(who), { minLength: 1, maxLength: forged ? 1 : 2, selector: (f) => f.label }) },
      ),
      replay: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  );
}

/** A proof as sent: its recipe, the JWT, and whether it is an assertion the broker burnt before. */
export type BuiltProof = { recipe: ProofRecipe; jwt: string; replayed: boolean };

/** Only a genuine proof may get a request past identity: a demo agent's own, flawless and fresh. */
export function isGenuine(proof: BuiltProof): boolean {
  return proof.recipe.agent !== STRANGER && proof.recipe.flaws.length === 0 && !proof.replayed;
}

/** The identity failures a refusal may name for these proofs. */
export function failuresOf(proofs: readonly BuiltProof[]): Set<IdentityFailure> {
  const failures = new Set<IdentityFailure>(proofs.flatMap((p) => p.recipe.flaws.flatMap((f) => f.codes ?? [])));
  if (proofs.some((p) => p.replayed)) failures.add("replayed");
  if (proofs.some((p) => p.recipe.agent === STRANGER)) failures.add("unknown_agent");
  return failures;
}

/** Signing keys for every demo agent (its registered key) and for the stranger, with one attacker's keys beside them. */
export async function proofKeys(attacker: Omit<SigningKeys, "trusted">): Promise<Map<string, SigningKeys>> {
  const keys = new Map<string, SigningKeys>();
  for (const agentId of DEMO_AGENTS) {
    const jwk = agentPrivateJwk(agentId);
    const alg = jwk.alg === "ES256" ? "ES256" : "EdDSA";
    keys.set(agentId, {
      trusted: { privateKey: (await agentSigningKey(agentId)).key, alg, publicJwk: agentPublicJwk(agentId) },
      ...attacker,
    });
  }
  keys.set(STRANGER, { trusted: await trustedKey("ES256"), ...attacker });
  return keys;
}

/**
 * The assertion a recipe describes, signed now; a replay sends again the assertion the broker last burnt for the
 * agent (`burnt`), when there is one. Genuine assertions live the full five minutes, so that none expires (and
 * leaves the ledger) while a fuzz run compares the ledger before and after a request.
 */
export async function buildProof(
  recipe: ProofRecipe,
  keys: Map<string, SigningKeys>,
  burnt: ReadonlyMap<string, string>,
): Promise<BuiltProof> {
  const replayed = recipe.replay ? burnt.get(recipe.agent) : undefined;
  if (replayed !== undefined) return { recipe, jwt: replayed, replayed: true };
  const signing = keys.get(recipe.agent);
  if (!signing) throw new TypeError(`no keys for ${recipe.agent}`);
  const kid = recipe.agent === STRANGER ? "evil-bot-1" : agentPrivateJwk(recipe.agent).kid;
  const header = { alg: signing.trusted.alg, kid, typ: "JWT" };
  const claims = assertionClaims(recipe.agent);
  const now = claims.iat as number;
  const jwt = await buildJwt(patchedJwt({ header, claims: { ...claims, exp: now + 300 } }, recipe.flaws, now), signing);
  return { recipe, jwt, replayed: false };
}
