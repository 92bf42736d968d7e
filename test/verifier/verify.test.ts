import { base64url, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { createVerifier, type Verifier, WritVerifyError, type WritVerifyErrorCode } from "../../verifier/index.ts";
import {
  accessClaims,
  brokenKeyResolver,
  jwksOf,
  signRawEs256,
  signToken,
  type TestKey,
  testKey,
  unsecuredToken,
} from "../support/access-tokens.ts";
import { ISSUER, nowSeconds } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_READ, CUSTOMERS_TABLE } from "../support/demo-policy.ts";
import { withPayload } from "../support/jws.ts";
import { rejectionOf } from "../support/rejection.ts";

let key: TestKey;
let verifier: Verifier;

beforeAll(async () => {
  key = await testKey("writ-1");
  verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key) });
});

const refusal = (promise: Promise<unknown>): Promise<WritVerifyError> => rejectionOf(promise, WritVerifyError);

async function expectRefused(
  token: string,
  code: WritVerifyErrorCode,
  scope: string | string[] = CUSTOMERS_READ,
): Promise<WritVerifyError> {
  const error = await refusal(verifier.verify(token, { scope }));
  expect(error.code).toBe(code);
  return error;
}

describe("verify: a good token", () => {
  it("resolves the typed grant of a valid token", async () => {
    const claims = accessClaims({ intent: "look up the customer on SUP-42" });
    const token = await signToken(key, { claims });
    const grant = await verifier.verify(token, { scope: CUSTOMERS_READ });
    expect(grant).toMatchObject({
      agent: "support-bot",
      clientId: "support-bot",
      useCase: CUSTOMERS_READ,
      audience: CRM_API,
      actions: ["read"],
      locations: [CUSTOMERS_TABLE],
      limits: { max_rows: 100 },
      intent: "look up the customer on SUP-42",
      jti: claims.jti,
    });
    expect(grant.issuedAt).toEqual(new Date((claims.iat as number) * 1000));
    expect(grant.expiresAt).toEqual(new Date((claims.exp as number) * 1000));
    expect(grant.approval).toBeUndefined();
    expect(grant.claims).toMatchObject({ iss: ISSUER, scope: CUSTOMERS_READ });
  });

  it("carries the approval of a human-approved token into the grant", async () => {
    const approval = { id: "apr_1", approved_by: ["dana@example.com"], approved_at: nowSeconds() };
    const grant = await verifier.verify(await signToken(key, { claims: { approval } }), { scope: CUSTOMERS_READ });
    expect(grant.approval).toEqual(approval);
  });

  it("keeps claims newer than this library in grant.claims", async () => {
    const grant = await verifier.verify(await signToken(key, { claims: { tenant: "acme" } }));
    expect(grant.claims.tenant).toBe("acme");
  });

  it("returns a frozen grant, so one route cannot widen what the next one sees", async () => {
    const grant = await verifier.verify(await signToken(key));
    expect(Object.isFrozen(grant)).toBe(true);
    expect(Object.isFrozen(grant.limits)).toBe(true);
    expect(Object.isFrozen(grant.actions)).toBe(true);
  });

  it("accepts the token when its use case is one of several the route accepts", async () => {
    const grant = await verifier.verify(await signToken(key), { scope: ["crm.customers.export", CUSTOMERS_READ] });
    expect(grant.useCase).toBe(CUSTOMERS_READ);
  });

  it("accepts typ application/at+jwt, the long form RFC 9068 §2.1 allows", async () => {
    await expect(verifier.verify(await signToken(key, { header: { typ: "application/at+jwt" } }))).resolves.toMatchObject({
      agent: "support-bot",
    });
  });

  it("accepts an EdDSA-signed token, the broker's other signing algorithm", async () => {
    const edKey = await testKey("writ-ed", "EdDSA");
    const edVerifier = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(edKey) });
    await expect(edVerifier.verify(await signToken(edKey), { scope: CUSTOMERS_READ })).resolves.toMatchObject({ useCase: CUSTOMERS_READ });
  });
});

describe("verify: forged and confused algorithms", () => {
  it("rejects a token signed with alg none", async () => {
    await expectRefused(unsecuredToken(key.kid), "ERR_WRIT_ALG_NOT_ALLOWED");
  });

  it("rejects HS256 signed with the public key as the secret (algorithm confusion)", async () => {
    const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
    const token = await new SignJWT(accessClaims()).setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: key.kid }).sign(secret);
    await expectRefused(token, "ERR_WRIT_ALG_NOT_ALLOWED");
  });

  it("refuses HS256 before asking the key resolver, so a resolver returning key bytes is never used as an HMAC secret", async () => {
    const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
    let resolverCalls = 0;
    const confused = createVerifier({
      issuer: ISSUER,
      audience: CRM_API,
      jwks: async () => {
        resolverCalls += 1;
        return secret;
      },
    });
    const token = await new SignJWT(accessClaims()).setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: key.kid }).sign(secret);
    expect((await refusal(confused.verify(token))).code).toBe("ERR_WRIT_ALG_NOT_ALLOWED");
    expect(resolverCalls).toBe(0);
  });

  it("rejects RS256 when it is not allow-listed, even if the JWKS publishes the RSA key", async () => {
    const rsaKey = await testKey("writ-rsa", "RS256");
    const both = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key, rsaKey) });
    expect((await refusal(both.verify(await signToken(rsaKey)))).code).toBe("ERR_WRIT_ALG_NOT_ALLOWED");
  });

  it("accepts only the algorithms a service allow-lists", async () => {
    const rsaKey = await testKey("writ-rsa", "RS256");
    const rsaOnly = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key, rsaKey), algorithms: ["RS256"] });
    await expect(rsaOnly.verify(await signToken(rsaKey))).resolves.toMatchObject({ agent: "support-bot" });
    expect((await refusal(rsaOnly.verify(await signToken(key)))).code).toBe("ERR_WRIT_ALG_NOT_ALLOWED");
  });
});

describe("verify: keys and signatures", () => {
  it("rejects a token whose kid the issuer does not publish", async () => {
    const rogue = await testKey("rogue-1");
    await expectRefused(await signToken(rogue), "ERR_WRIT_KEY_UNKNOWN");
  });

  it("rejects a token signed by another key under a published kid", async () => {
    const impostor = await testKey(key.kid);
    await expectRefused(await signToken(impostor), "ERR_WRIT_SIGNATURE_INVALID");
  });

  it("rejects a token whose payload was altered after signing", async () => {
    const token = await signToken(key);
    const widened = accessClaims({ scope: "crm.customers.export" });
    await expectRefused(withPayload(token, widened), "ERR_WRIT_SIGNATURE_INVALID", "crm.customers.export");
  });

  it("rejects a token whose signature was stripped", async () => {
    const token = await signToken(key);
    await expectRefused(`${token.slice(0, token.lastIndexOf(".") + 1)}`, "ERR_WRIT_SIGNATURE_INVALID");
  });
});

describe("verify: token type, issuer and audience", () => {
  it("rejects typ JWT: an ID token or assertion from the same keys is not an access token", async () => {
    await expectRefused(await signToken(key, { header: { typ: "JWT" } }), "ERR_WRIT_TYP_INVALID");
  });

  it("rejects a token without typ", async () => {
    await expectRefused(await signToken(key, { header: { typ: undefined } }), "ERR_WRIT_TYP_INVALID");
  });

  it("rejects a token from another issuer", async () => {
    await expectRefused(await signToken(key, { claims: { iss: "https://evil.example.com" } }), "ERR_WRIT_ISSUER_INVALID");
  });

  it("rejects a token without iss", async () => {
    await expectRefused(await signToken(key, { claims: { iss: undefined } }), "ERR_WRIT_ISSUER_INVALID");
  });

  it("rejects a token for another service", async () => {
    await expectRefused(await signToken(key, { claims: { aud: "https://billing.example.com" } }), "ERR_WRIT_AUDIENCE_INVALID");
  });
});

describe("verify: time", () => {
  it("rejects an expired token", async () => {
    const now = nowSeconds();
    await expectRefused(await signToken(key, { claims: { iat: now - 600, nbf: now - 600, exp: now - 300 } }), "ERR_WRIT_EXPIRED");
  });

  it("rejects a token whose nbf is in the future", async () => {
    const now = nowSeconds();
    await expectRefused(await signToken(key, { claims: { nbf: now + 3600, exp: now + 3900 } }), "ERR_WRIT_NOT_YET_VALID");
  });

  it("accepts a token expired within the clock tolerance (30 s by default)", async () => {
    const now = nowSeconds();
    await expect(verifier.verify(await signToken(key, { claims: { exp: now - 10 } }))).resolves.toMatchObject({ agent: "support-bot" });
  });

  it("rejects a token expired beyond the clock tolerance", async () => {
    const now = nowSeconds();
    await expectRefused(await signToken(key, { claims: { exp: now - 60 } }), "ERR_WRIT_EXPIRED");
  });

  it("accepts a token whose nbf is ahead within the clock tolerance", async () => {
    const now = nowSeconds();
    await expect(verifier.verify(await signToken(key, { claims: { nbf: now + 10 } }))).resolves.toMatchObject({ agent: "support-bot" });
  });

  it("applies the configured clock tolerance", async () => {
    const strict = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key), clockToleranceSeconds: 0 });
    const token = await signToken(key, { claims: { exp: nowSeconds() - 10 } });
    expect((await refusal(strict.verify(token))).code).toBe("ERR_WRIT_EXPIRED");
  });
});

describe("verify: claims", () => {
  it.each(["sub", "client_id", "jti", "scope", "exp", "iat", "nbf", "authorization_details"])(
    "rejects a token without %s",
    async (claim) => {
      await expectRefused(await signToken(key, { claims: { [claim]: undefined } }), "ERR_WRIT_CLAIMS_INVALID");
    },
  );

  it("rejects a token whose exp is not a number", async () => {
    await expectRefused(await signToken(key, { claims: { exp: "tomorrow" } }), "ERR_WRIT_CLAIMS_INVALID");
  });

  it("rejects a token granting several use cases at once", async () => {
    const [detail] = accessClaims().authorization_details as unknown[];
    await expectRefused(await signToken(key, { claims: { authorization_details: [detail, detail] } }), "ERR_WRIT_CLAIMS_INVALID");
  });

  it("rejects a token whose authorization_details name another use case than its scope", async () => {
    const detail = {
      type: "agent_use_case",
      use_case: "crm.customers.export",
      actions: ["read", "export"],
      locations: [CUSTOMERS_TABLE],
      limits: { max_rows: 5000 },
    };
    await expectRefused(await signToken(key, { claims: { authorization_details: [detail] } }), "ERR_WRIT_CLAIMS_INVALID");
  });

  it("rejects a token for another use case than the route needs", async () => {
    const export_ = await signToken(key, {
      claims: {
        scope: "crm.customers.export",
        authorization_details: [
          { type: "agent_use_case", use_case: "crm.customers.export", actions: ["read"], locations: [], limits: { max_rows: 5000 } },
        ],
      },
    });
    await expectRefused(export_, "ERR_WRIT_SCOPE_INSUFFICIENT", CUSTOMERS_READ);
  });

  it("refuses a DPoP-bound token (cnf.jkt) instead of accepting it as a bearer token", async () => {
    await expectRefused(
      await signToken(key, { claims: { cnf: { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" } } }),
      "ERR_WRIT_DPOP_REQUIRED",
    );
  });

  it("refuses a token with a confirmation method it does not know", async () => {
    await expectRefused(await signToken(key, { claims: { cnf: { "x5t#S256": "abc" } } }), "ERR_WRIT_CLAIMS_INVALID");
  });
});

describe("verify: malformed input", () => {
  it("reports a missing token", async () => {
    await expectRefused("", "ERR_WRIT_TOKEN_MISSING");
  });

  it.each([
    ["not a JWT", "not-a-jwt"],
    ["two segments", "eyJhbGciOiJFUzI1NiJ9.e30"],
    ["a header that is not JSON", `${base64url.encode("{alg")}.e30.sig`],
  ])("rejects %s as malformed", async (_label, token) => {
    await expectRefused(token, "ERR_WRIT_TOKEN_MALFORMED");
  });

  it("rejects an oversized token without parsing it", async () => {
    await expectRefused(`${"a".repeat(9000)}.b.c`, "ERR_WRIT_TOKEN_MALFORMED");
  });

  it("rejects a signed payload that is not a JSON object", async () => {
    await expectRefused(await signRawEs256(key, { alg: "ES256", kid: key.kid, typ: "at+jwt" }, "not json"), "ERR_WRIT_TOKEN_MALFORMED");
  });

  it("rejects a critical header extension it does not understand (RFC 7515 §4.1.11)", async () => {
    const header = { alg: "ES256", kid: key.kid, typ: "at+jwt", crit: ["writ-v2"], "writ-v2": true };
    await expectRefused(await signRawEs256(key, header, JSON.stringify(accessClaims())), "ERR_WRIT_TOKEN_MALFORMED");
  });

  it("never puts the token into the error message", async () => {
    const rogue = await testKey("rogue-2");
    const now = nowSeconds();
    const tokens = [
      unsecuredToken(key.kid),
      await signToken(rogue),
      await signToken(key, { header: { typ: "JWT" } }),
      await signToken(key, { claims: { exp: now - 3600 } }),
      await signToken(key, { claims: { jti: undefined } }),
      withPayload(await signToken(key), accessClaims({ sub: "admin" })),
      "garbage.garbage.garbage",
    ];
    for (const token of tokens) {
      const error = await refusal(verifier.verify(token, { scope: CUSTOMERS_READ }));
      const signature = token.split(".")[2] ?? "";
      expect(error.message).not.toContain(token);
      if (signature.length > 0) expect(error.message).not.toContain(signature);
    }
  });
});

describe("verify: caller misuse", () => {
  it.each([[""], [[]], ["two words"], [['quote"d']]])("throws TypeError for scope %j", async (scope) => {
    const token = await signToken(key);
    await expect(verifier.verify(token, { scope: scope as string })).rejects.toBeInstanceOf(TypeError);
  });

  it("rethrows a broken key resolver's error instead of calling the token invalid", async () => {
    const broken = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: brokenKeyResolver });
    await expect(broken.verify(await signToken(key))).rejects.toThrow(RangeError);
  });
});
