/**
 * fast-check generators for Writ access tokens as an attacker (or a broken issuer) builds them: the broker's token
 * changed by patches (test/support/jwt-patches.ts), each either fatal, naming the verifier's refusal codes that say
 * what it broke, or harmless, which the verifier must accept; and text that is no token at all.
 */
import fc from "fast-check";
import type { WritVerifyErrorCode } from "../../verifier/index.ts";
import { accessClaims, type TestKey, testKey } from "./access-tokens.ts";
import { CUSTOMERS_EXPORT } from "./demo-policy.ts";
import { attackerKeys, compactJws, type JwtPatch, type SigningKeys } from "./jwt-patches.ts";

export type TokenPatch = JwtPatch<WritVerifyErrorCode>;

/** The issuer's key (the only one its JWKS publishes, kid `writ-1`) and the attacker's keys, one under the same kid. */
export async function issuerKeys(): Promise<{ published: TestKey; signing: SigningKeys }> {
  const published = await testKey("writ-1");
  const trusted = { privateKey: published.privateKey, alg: "ES256" as const, publicJwk: published.publicJwk };
  return { published, signing: { trusted, ...(await attackerKeys()) } };
}

/** The broker's grant of crm.customers.read, as its tokens carry it. */
const [GRANTED] = accessClaims().authorization_details as [Record<string, unknown>];
const patch = (label: string, codes: readonly WritVerifyErrorCode[], rest: Omit<TokenPatch, "label" | "codes">): TokenPatch => ({
  label,
  codes,
  ...rest,
});
const ALG = ["ERR_WRIT_ALG_NOT_ALLOWED"] as const;
const CLAIMS = ["ERR_WRIT_CLAIMS_INVALID"] as const;
const CLAIM_NAMES = [
  "iss",
  "sub",
  "aud",
  "client_id",
  "iat",
  "nbf",
  "exp",
  "jti",
  "scope",
  "authorization_details",
  "intent",
  "approval",
  "cnf",
];
const JOSE_HEADER_NAMES = ["alg", "kid", "typ", "crit", "b64", "jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "zip", "enc", "cty"];

/** Patches that must each make the verifier refuse, with the codes that say why. */
export const fatalPatchArb: fc.Arbitrary<TokenPatch> = fc.oneof(
  fc.constant(patch("alg none", ALG, { header: { alg: "none" }, signer: "none" })),
  fc.constant(patch("HS256 keyed with the issuer's public JWK", ALG, { header: { alg: "HS256" }, signer: "hs256-public" })),
  fc.constant(patch("RS256 by the attacker's key", ALG, { header: { alg: "RS256" }, signer: "attacker-rsa" })),
  fc
    .constantFrom("es256", "HS512", "ES384", "PS256", "ES256K", "NONE", "")
    .map((alg) => patch("an alg outside the allow-list", [...ALG, "ERR_WRIT_TOKEN_MALFORMED"], { header: { alg } })),
  fc.constant(patch("ES256 by the attacker under the issuer's kid", ["ERR_WRIT_SIGNATURE_INVALID"], { signer: "attacker" })),
  fc
    .string({ maxLength: 12 })
    .filter((kid) => kid !== "writ-1")
    .map((kid) => patch("an unpublished kid", ["ERR_WRIT_KEY_UNKNOWN"], { header: { kid }, signer: "attacker" })),
  fc.constant(
    patch("EdDSA by the attacker under an EC kid", ["ERR_WRIT_KEY_UNKNOWN"], { header: { alg: "EdDSA" }, signer: "attacker-eddsa" }),
  ),
  fc
    .constantFrom(
      { jku: "https://evil.example.com/jwks.json" },
      { jwk: { kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" } },
      { x5u: "https://evil.example.com/c" },
    )
    .map((header) => patch("a key the header points at", ["ERR_WRIT_SIGNATURE_INVALID"], { header, signer: "attacker" })),
  fc
    .constantFrom(undefined, "JWT", "jwt", "at+jwt+x", "dpop+jwt", "application/jwt", "", "at jwt", "id_token+jwt")
    .map((typ) => patch("a typ that is not at+jwt (RFC 9068 §4)", ["ERR_WRIT_TYP_INVALID"], { header: { typ } })),
  fc.constant(patch("an unknown crit extension", ["ERR_WRIT_TOKEN_MALFORMED"], { header: { crit: ["x-writ"], "x-writ": true } })),
  fc
    .constantFrom(undefined, 42, "https://evil.example.com", "http://localhost:8787/", "HTTP://localhost:8787")
    .map((iss) => patch("another issuer", ["ERR_WRIT_ISSUER_INVALID"], { claims: { iss } })),
  fc
    .constantFrom(undefined, "https://evil.example.com", "https://crm.example.com/", ["https://evil.example.com"], [])
    .map((aud) => patch("another audience", ["ERR_WRIT_AUDIENCE_INVALID"], { claims: { aud } })),
  fc.constant(patch("this audience among others", CLAIMS, { claims: { aud: ["https://crm.example.com", "https://evil.example.com"] } })),
  fc.integer({ min: 35, max: 10_000_000 }).map((ago) => patch("expired", ["ERR_WRIT_EXPIRED"], { times: { exp: -ago } })),
  fc.integer({ min: 35, max: 10_000_000 }).map((ahead) => patch("not yet valid", ["ERR_WRIT_NOT_YET_VALID"], { times: { nbf: ahead } })),
  fc
    .constantFrom("exp", "iat", "nbf", "jti", "sub", "client_id", "scope", "authorization_details")
    .map((name) => patch("a required claim missing", CLAIMS, { claims: { [name]: undefined } })),
  fc
    .oneof(
      fc.tuple(fc.constantFrom("sub", "client_id", "jti", "scope"), fc.constantFrom(42, "", null, {}, [], true)),
      fc.tuple(fc.constantFrom("iat", "exp"), fc.constantFrom("1700000000", "", null, {}, [], true)),
    )
    .map(([name, value]) => patch("a claim of the wrong type", CLAIMS, { claims: { [name]: value } })),
  fc.constant(patch("a non-integer issue time", CLAIMS, { times: { iat: -0.5 } })),
  fc
    .jsonValue({ maxDepth: 3 })
    .filter((value) => !JSON.stringify(value ?? null).includes("agent_use_case"))
    .map((authorization_details) => patch("authorization_details of another shape", CLAIMS, { claims: { authorization_details } })),
  fc.constant(patch("two granted use cases", CLAIMS, { claims: { authorization_details: [GRANTED, GRANTED] } })),
  fc.constant(
    patch("scope and authorization_details disagreeing", CLAIMS, {
      claims: { authorization_details: [{ ...GRANTED, use_case: CUSTOMERS_EXPORT }] },
    }),
  ),
  fc.constant(
    patch("another use case than the route's", ["ERR_WRIT_SCOPE_INSUFFICIENT"], {
      claims: { scope: CUSTOMERS_EXPORT, authorization_details: [{ ...GRANTED, use_case: CUSTOMERS_EXPORT }] },
    }),
  ),
  fc
    .string({ minLength: 1, maxLength: 43 })
    .map((jkt) => patch("bound to a DPoP key", ["ERR_WRIT_DPOP_REQUIRED"], { claims: { cnf: { jkt } } })),
  fc.constant(patch("longer than 8192 characters", ["ERR_WRIT_TOKEN_MALFORMED"], { claims: { intent: "x".repeat(9000) } })),
  fc.constant(patch("payload edited after signing", ["ERR_WRIT_SIGNATURE_INVALID"], { after: "tamper-payload" })),
  fc.constant(patch("signature flipped", ["ERR_WRIT_SIGNATURE_INVALID"], { after: "flip-signature" })),
  fc.constant(patch("signature stripped", ["ERR_WRIT_SIGNATURE_INVALID", "ERR_WRIT_TOKEN_MALFORMED"], { after: "strip-signature" })),
  fc.double({ min: 0, max: 0.99, noNaN: true }).map((at) =>
    patch("truncated", ["ERR_WRIT_TOKEN_MALFORMED", "ERR_WRIT_SIGNATURE_INVALID", "ERR_WRIT_TOKEN_MISSING"], {
      after: { truncateAt: at },
    }),
  ),
);

const scalar = fc.oneof(fc.integer(), fc.string({ maxLength: 12 }), fc.boolean());

/** Changes a token may carry and still be the broker's: claims and header members it does not know, long forms of typ, any intent. */
export const harmlessPatchArb: fc.Arbitrary<TokenPatch> = fc.oneof(
  fc
    .dictionary(
      fc.string({ minLength: 1, maxLength: 10 }).filter((name) => !CLAIM_NAMES.includes(name)),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 3 },
    )
    .map((claims) => ({ label: "claims newer than the library", claims })),
  fc
    .dictionary(
      fc.string({ minLength: 1, maxLength: 10 }).filter((name) => !JOSE_HEADER_NAMES.includes(name)),
      scalar,
      { maxKeys: 2 },
    )
    .map((header) => ({ label: "unknown header members", header })),
  fc
    .constantFrom("AT+JWT", "application/at+jwt", "Application/AT+JWT")
    .map((typ) => ({ label: "typ in a form RFC 9068 allows", header: { typ } })),
  fc.string({ unit: "grapheme", maxLength: 200 }).map((intent) => ({ label: "any intent", claims: { intent } })),
  fc
    .record({
      id: fc.string({ minLength: 1, maxLength: 20 }),
      approved_by: fc.array(fc.emailAddress(), { minLength: 1, maxLength: 3 }),
      approved_at: fc.nat(),
    })
    .map((approval) => ({ label: "an approval", claims: { approval } })),
  fc
    .record({
      actions: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
      locations: fc.array(fc.webUrl(), { maxLength: 2 }),
      // Not "__proto__": no policy can grant it (zod records drop that key), so no token of the broker's carries it.
      limits: fc.dictionary(
        fc.string({ minLength: 1, maxLength: 10 }).filter((name) => name !== "__proto__"),
        scalar,
        { maxKeys: 3 },
      ),
    })
    .map((granted) => ({
      label: "any granted actions, locations and limits",
      claims: { authorization_details: [{ ...GRANTED, ...granted }] },
    })),
  fc
    .record({ sub: fc.string({ minLength: 1, maxLength: 20 }), jti: fc.string({ minLength: 1, maxLength: 40 }) })
    .map(({ sub, jti }) => ({ label: "any agent and token id", claims: { sub, client_id: sub, jti } })),
  fc
    .record({ iat: fc.integer({ min: -3600, max: 0 }), nbf: fc.integer({ min: -3600, max: 20 }), exp: fc.integer({ min: -20, max: 3600 }) })
    .map((times) => ({ label: "times within the clock tolerance", times })),
);

/** Text that is no token at all, or only looks like one: what `verify` must refuse with its own error, never crash on. */
export const garbageTokenArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }),
  fc
    .array(
      fc.base64String({ maxLength: 60 }).map((text) => text.replaceAll("+", "-").replaceAll("/", "_")),
      { minLength: 1, maxLength: 5 },
    )
    .map((parts) => parts.join(".")),
  fc
    .tuple(fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 }), fc.uint8Array({ maxLength: 96 }))
    .map(([header, payload, signature]) => compactJws(header, payload, signature)),
  fc
    .tuple(
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 8 }),
      fc.uint8Array({ minLength: 64, maxLength: 64 }),
    )
    .map(([claims, signature]) => compactJws({ alg: "ES256", kid: "writ-1", typ: "at+jwt" }, claims, signature)),
  fc.constantFrom("", ".", "..", "...", "Bearer x", " eyJ.eyJ.x ", "a".repeat(8193), undefined, null, 42, {}),
);
