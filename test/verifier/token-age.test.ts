/**
 * `iat` checks of the verifier. A token issued in the future was minted ahead of time (a stolen signing key used to
 * stock up tokens for later), so it is refused whatever the options; `maxTokenAgeSeconds` (jose `maxTokenAge`) lets a
 * service refuse tokens older than it wants, whatever their `exp`.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createVerifier, type Verifier, WritVerifyError, type WritVerifyErrorCode } from "../../verifier/index.ts";
import { jwksOf, signToken, type TestKey, testKey } from "../support/access-tokens.ts";
import { ISSUER, nowSeconds } from "../support/assertions.ts";
import { CRM_API } from "../support/demo-policy.ts";
import { rejectionOf } from "../support/rejection.ts";

let key: TestKey;
let verifier: Verifier;
let fresh: Verifier;

beforeAll(async () => {
  key = await testKey("writ-1");
  verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key) });
  fresh = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key), maxTokenAgeSeconds: 60 });
});

/** A token issued `ageSeconds` ago (negative: in the future), valid from now for five minutes otherwise. */
function issuedAgo(ageSeconds: number): Promise<string> {
  const now = nowSeconds();
  return signToken(key, { claims: { iat: now - ageSeconds, nbf: now, exp: now + 300 } });
}

async function expectRefused(promise: Promise<unknown>, code: WritVerifyErrorCode, message: RegExp): Promise<void> {
  const error = await rejectionOf(promise, WritVerifyError);
  expect({ code: error.code, message: error.message }).toEqual({ code, message: expect.stringMatching(message) });
}

describe("verify: a token issued in the future", () => {
  it("refuses a token whose iat is in the future beyond the clock tolerance", async () => {
    await expectRefused(verifier.verify(await issuedAgo(-120)), "ERR_WRIT_NOT_YET_VALID", /"iat" claim is in the future/);
  });

  it("accepts a token whose iat is ahead within the clock tolerance (30 s by default)", async () => {
    await expect(verifier.verify(await issuedAgo(-20))).resolves.toMatchObject({ agent: "support-bot" });
  });

  it("applies the configured clock tolerance to iat", async () => {
    const strict = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key), clockToleranceSeconds: 0 });
    await expectRefused(strict.verify(await issuedAgo(-5)), "ERR_WRIT_NOT_YET_VALID", /"iat" claim is in the future/);
  });

  it("refuses a future iat with maxTokenAgeSeconds too, where jose checks it", async () => {
    await expectRefused(fresh.verify(await issuedAgo(-120)), "ERR_WRIT_NOT_YET_VALID", /"iat" claim timestamp check failed/);
  });

  it("refuses a future iat before asking introspection: a pre-minted token never reaches the broker", async () => {
    let calls = 0;
    const online = createVerifier({
      issuer: ISSUER,
      audience: CRM_API,
      jwks: jwksOf(key),
      introspection: {
        credential: "crm-secret-for-tests",
        fetch: async () => {
          calls += 1;
          return Response.json({ active: true });
        },
      },
    });
    await expectRefused(online.verify(await issuedAgo(-120)), "ERR_WRIT_NOT_YET_VALID", /in the future/);
    expect(calls).toBe(0);
  });
});

describe("verify: maxTokenAgeSeconds", () => {
  it("refuses a token issued longer ago than maxTokenAgeSeconds, though it has not expired", async () => {
    await expectRefused(fresh.verify(await issuedAgo(120)), "ERR_WRIT_EXPIRED", /too far in the past/);
  });

  it("accepts a token within maxTokenAgeSeconds plus the clock tolerance", async () => {
    await expect(fresh.verify(await issuedAgo(80))).resolves.toMatchObject({ agent: "support-bot" });
  });

  it("sets no age limit by default: a token is good until its exp", async () => {
    await expect(verifier.verify(await issuedAgo(250))).resolves.toMatchObject({ agent: "support-bot" });
  });
});
