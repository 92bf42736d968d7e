/**
 * Property-based fuzzing of the verifier library (`verifier/`), in plain Node as services run it: tokens the broker
 * would sign, changed by an attacker (test/support/access-token-arbitraries.ts), and text that is no token at all.
 * Every token that breaks a rule is refused with a code that names a rule it broke (RFC 9068 §4, RFC 8725), every
 * harmless change is accepted with the grant the claims say, and nothing makes `verify` fail with anything but a
 * `WritVerifyError`. Seeded: see test/support/fuzz.ts to replay a failure.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { createVerifier, type Verifier, WritVerifyError } from "../../../verifier/index.ts";
import { fatalPatchArb, garbageTokenArb, harmlessPatchArb, issuerKeys, type TokenPatch } from "../../support/access-token-arbitraries.ts";
import { accessClaims, jwksOf } from "../../support/access-tokens.ts";
import { ISSUER, nowSeconds } from "../../support/assertions.ts";
import { CRM_API, CUSTOMERS_READ } from "../../support/demo-policy.ts";
import { checkProperty, PROPERTY_TIMEOUT_MS } from "../../support/fuzz.ts";
import { buildJwt, patchedJwt, type SigningKeys } from "../../support/jwt-patches.ts";
import { rejectionOf } from "../../support/rejection.ts";

let keys: SigningKeys;
let verifier: Verifier;

beforeAll(async () => {
  const issuer = await issuerKeys();
  keys = issuer.signing;
  verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(issuer.published) });
});

/** The broker's token for crm.customers.read, changed by `patches`. */
function tokenWith(patches: readonly TokenPatch[]) {
  const now = nowSeconds();
  const header = { alg: "ES256", kid: "writ-1", typ: "at+jwt" };
  return patchedJwt({ header, claims: accessClaims() }, patches, now);
}

describe("verifier under generated tokens", () => {
  it("refuses every token that breaks a rule, with a code that names a rule it broke", { timeout: PROPERTY_TIMEOUT_MS }, async () => {
    const patches = fc.uniqueArray(fatalPatchArb, { minLength: 1, maxLength: 3, selector: (p) => p.label });
    await checkProperty(
      fc.asyncProperty(patches, fc.array(harmlessPatchArb, { maxLength: 2 }), async (fatal, harmless) => {
        // Harmless changes first, so that they cannot undo a fatal one.
        const token = await buildJwt(tokenWith([...harmless, ...fatal]), keys);
        const error = await rejectionOf(verifier.verify(token, { scope: CUSTOMERS_READ }), WritVerifyError);
        expect(fatal.flatMap((p) => p.codes ?? [])).toContain(error.code);
        // The message goes to the service's logs: it must never carry the token or any sizeable part of it.
        for (const part of [token, ...token.split(".")].filter((text) => text.length >= 16)) expect(error.message).not.toContain(part);
      }),
      2500,
    );
  });

  it("accepts the broker's token with any harmless change, and the grant says what its claims say", {
    timeout: PROPERTY_TIMEOUT_MS,
  }, async () => {
    await checkProperty(
      fc.asyncProperty(fc.array(harmlessPatchArb, { maxLength: 4 }), async (harmless) => {
        const token = tokenWith(harmless);
        const grant = await verifier.verify(await buildJwt(token, keys), { scope: CUSTOMERS_READ });
        const { claims } = token;
        const [granted] = claims.authorization_details as [{ actions: string[]; locations: string[]; limits: object }];
        expect(grant).toMatchObject({
          agent: claims.sub,
          clientId: claims.client_id,
          useCase: CUSTOMERS_READ,
          audience: CRM_API,
          actions: granted.actions,
          locations: granted.locations,
          limits: granted.limits,
          jti: claims.jti,
          issuedAt: new Date((claims.iat as number) * 1000),
          expiresAt: new Date((claims.exp as number) * 1000),
        });
        expect(grant.intent).toBe(claims.intent);
        expect(grant.approval).toEqual(claims.approval);
      }),
      1000,
    );
  });

  it("refuses text that is no token with a WritVerifyError, never another error", { timeout: PROPERTY_TIMEOUT_MS }, async () => {
    await checkProperty(
      fc.asyncProperty(garbageTokenArb, async (garbage) => {
        await rejectionOf(verifier.verify(garbage as string, { scope: CUSTOMERS_READ }), WritVerifyError);
      }),
      2000,
    );
  });
});
