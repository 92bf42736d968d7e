import { exportJWK, generateKeyPair } from "jose";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { JWKS_MAX_AGE_SECONDS } from "../../core/keys/jwks-max-age.ts";
import { createVerifier, DEFAULT_JWKS_CACHE_MAX_AGE_MS, WritVerifyError } from "../../verifier/index.ts";
import { jwksEndpoint, signToken, type TestKey, testKey } from "../support/access-tokens.ts";
import { ISSUER } from "../support/assertions.ts";
import { CRM_API } from "../support/demo-policy.ts";
import { rejectionOf } from "../support/rejection.ts";
import { brokerGet } from "../support/requests.ts";

const JWKS_URL = `${ISSUER}/.well-known/jwks.json`;

let current: TestKey;
let next: TestKey;

beforeAll(async () => {
  current = await testKey("writ-current");
  next = await testKey("writ-next");
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return (await rejectionOf(promise, WritVerifyError)).code;
}

describe("remote JWKS", () => {
  it("fetches the issuer's JWKS from its well-known URL once and serves later tokens from the cache", async () => {
    const endpoint = jwksEndpoint(current);
    const verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: endpoint.fetch });
    for (let i = 0; i < 3; i++) await verifier.verify(await signToken(current));
    expect(endpoint.requests).toEqual([JWKS_URL]);
  });

  it("fetches from jwksUri when one is given", async () => {
    const endpoint = jwksEndpoint(current);
    const jwksUri = "https://keys.example.com/writ/jwks.json";
    const verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, jwksUri, fetch: endpoint.fetch });
    await verifier.verify(await signToken(current));
    expect(endpoint.requests).toEqual([jwksUri]);
  });

  it("refetches the JWKS when a token names a kid it has not seen yet (key rotation)", async () => {
    const endpoint = jwksEndpoint(current);
    const verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: endpoint.fetch, cooldownMs: 0 });
    await verifier.verify(await signToken(current));
    endpoint.publish(current, next);
    await expect(verifier.verify(await signToken(next))).resolves.toMatchObject({ agent: "support-bot" });
    expect(endpoint.requests).toHaveLength(2);
    // The refreshed set serves both keys without another fetch.
    await verifier.verify(await signToken(current));
    expect(endpoint.requests).toHaveLength(2);
  });

  it("does not refetch during the cooldown, so a stream of unknown kids cannot flood the issuer", async () => {
    const endpoint = jwksEndpoint(current);
    const verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: endpoint.fetch });
    await verifier.verify(await signToken(current));
    for (let i = 0; i < 5; i++) {
      const rogue = await testKey(`rogue-${i}`);
      expect(await codeOf(verifier.verify(await signToken(rogue)))).toBe("ERR_WRIT_KEY_UNKNOWN");
    }
    expect(endpoint.requests).toHaveLength(1);
  });

  it("refetches once the cached keys are older than cacheMaxAgeMs", async () => {
    const endpoint = jwksEndpoint(current);
    const verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: endpoint.fetch, cacheMaxAgeMs: 0 });
    await verifier.verify(await signToken(current));
    await verifier.verify(await signToken(current));
    expect(endpoint.requests).toHaveLength(2);
  });

  it("stops trusting a key the issuer no longer publishes within 60 s, the JWKS max-age (jose's default is 10 minutes)", async () => {
    // A pulled key (leaked, or a retired `previous`) must not keep verifying for jose's default cacheMaxAge.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const endpoint = jwksEndpoint(current, next);
      const verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: endpoint.fetch });
      await verifier.verify(await signToken(next));
      endpoint.publish(current);
      vi.setSystemTime(Date.now() + JWKS_MAX_AGE_SECONDS * 1000 - 1000);
      await expect(verifier.verify(await signToken(next))).resolves.toMatchObject({ agent: "support-bot" });
      expect(endpoint.requests).toHaveLength(1);
      vi.setSystemTime(Date.now() + 2000);
      expect(await codeOf(verifier.verify(await signToken(next)))).toBe("ERR_WRIT_KEY_UNKNOWN");
      expect(endpoint.requests).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("caches the JWKS by default exactly as long as the broker's Cache-Control allows", async () => {
    expect(DEFAULT_JWKS_CACHE_MAX_AGE_MS).toBe(JWKS_MAX_AGE_SECONDS * 1000);
    const res = await brokerGet("/.well-known/jwks.json");
    expect(res.headers.get("cache-control")).toContain(`max-age=${JWKS_MAX_AGE_SECONDS}`);
  });

  it.each([
    ["the fetch fails", new TypeError("network connection lost")],
    ["the issuer answers 503", new Response("unavailable", { status: 503 })],
    ["the issuer answers with a redirect", new Response(null, { status: 302, headers: { Location: "https://evil.example.com/jwks" } })],
    ["the body is not JSON", new Response("<html>", { status: 200 })],
    ["the body is not a key set", Response.json({ keys: "none" })],
  ])("reports ERR_WRIT_JWKS_UNAVAILABLE when %s", async (_label, failure) => {
    const endpoint = jwksEndpoint(current);
    endpoint.fail(failure);
    const verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: endpoint.fetch });
    expect(await codeOf(verifier.verify(await signToken(current)))).toBe("ERR_WRIT_JWKS_UNAVAILABLE");
  });

  it("recovers on the next request once the JWKS is reachable again", async () => {
    const endpoint = jwksEndpoint(current);
    endpoint.fail(new Response("unavailable", { status: 503 }));
    const verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: endpoint.fetch });
    expect(await codeOf(verifier.verify(await signToken(current)))).toBe("ERR_WRIT_JWKS_UNAVAILABLE");
    endpoint.fail(undefined);
    await expect(verifier.verify(await signToken(current))).resolves.toMatchObject({ agent: "support-bot" });
    expect(endpoint.requests).toHaveLength(2);
  });

  it("refuses to use a JWKS that publishes a private key", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const leaky = { kid: "leaky", alg: "ES256", privateKey, publicJwk: {} };
    const endpoint = jwksEndpoint();
    endpoint.fail(Response.json({ keys: [{ ...(await exportJWK(privateKey)), kid: "leaky", alg: "ES256" }] }));
    const verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: endpoint.fetch });
    expect(await codeOf(verifier.verify(await signToken(leaky)))).toBe("ERR_WRIT_JWKS_UNAVAILABLE");
  });
});
