// Online mode against the real broker: the verifier asks /introspect (RFC 7662) after its offline checks.
// The kill switch has its own file (online-kill-switch.test.ts): disabling an agent would leak into these tests.
import { describe, expect, it } from "vitest";
import { createVerifier, type Verifier, WritVerifyError } from "../../verifier/index.ts";
import { createIntrospector } from "../../verifier/introspection.ts";
import { resolveOptions } from "../../verifier/options.ts";
import { signToken, testKey } from "../support/access-tokens.ts";
import { ISSUER } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { crmVerifier, revoke } from "../support/online-verifier.ts";
import { rejectionOf } from "../support/rejection.ts";
import { accessTokenFor, CRM_SECRET, countedBrokerFetch } from "../support/requests.ts";

async function refusalCode(verifier: Verifier, token: string, scope = CUSTOMERS_READ): Promise<string> {
  return (await rejectionOf(verifier.verify(token, { scope }), WritVerifyError)).code;
}

describe("online verification against the broker's /introspect", () => {
  it("accepts a live token after asking /introspect with the service's credential", async () => {
    const introspection = countedBrokerFetch();
    const verifier = crmVerifier({ fetch: introspection.fetch });
    expect(verifier.online).toBe(true);
    const token = await accessTokenFor();
    await expect(verifier.verify(token, { scope: CUSTOMERS_READ })).resolves.toMatchObject({
      agent: "support-bot",
      useCase: CUSTOMERS_READ,
    });

    expect(introspection.calls).toHaveLength(1);
    const [call] = introspection.calls;
    expect(call?.url).toBe(`${ISSUER}/introspect`);
    expect(call?.init.method).toBe("POST");
    const headers = new Headers(call?.init.headers);
    expect(headers.get("authorization")).toBe(`Bearer ${CRM_SECRET}`);
    expect(headers.get("content-type")).toBe("application/x-www-form-urlencoded");
    const form = new URLSearchParams(String(call?.init.body));
    expect(form.get("token")).toBe(token);
    expect(form.get("token_type_hint")).toBe("access_token");
  });

  it("refuses a token revoked at POST /revoke with ERR_WRIT_TOKEN_INACTIVE, which stays valid offline", async () => {
    const online = crmVerifier({ cacheSeconds: 0 });
    const token = await accessTokenFor();
    await expect(online.verify(token, { scope: CUSTOMERS_READ })).resolves.toMatchObject({ agent: "support-bot" });
    await revoke(token);
    expect(await refusalCode(online, token)).toBe("ERR_WRIT_TOKEN_INACTIVE");
    // The default is stateless: a revoked token passes until it expires.
    const offline = crmVerifier();
    expect(offline.online).toBe(false);
    await expect(offline.verify(token, { scope: CUSTOMERS_READ })).resolves.toMatchObject({ agent: "support-bot" });
  });

  it("revoking one token leaves the agent's other tokens active", async () => {
    const online = crmVerifier({ cacheSeconds: 0 });
    const [revoked, kept] = [await accessTokenFor(), await accessTokenFor()];
    await revoke(revoked);
    expect(await refusalCode(online, revoked)).toBe("ERR_WRIT_TOKEN_INACTIVE");
    await expect(online.verify(kept, { scope: CUSTOMERS_READ })).resolves.toMatchObject({ agent: "support-bot" });
  });

  it("reuses an answer within the cache window: two verifications of one token make one call", async () => {
    const introspection = countedBrokerFetch();
    const verifier = crmVerifier({ fetch: introspection.fetch });
    const token = await accessTokenFor();
    await verifier.verify(token, { scope: CUSTOMERS_READ });
    await verifier.verify(token, { scope: CUSTOMERS_READ });
    expect(introspection.calls).toHaveLength(1);
  });

  it("caches per token: another token is asked about on its own", async () => {
    const introspection = countedBrokerFetch();
    const verifier = crmVerifier({ fetch: introspection.fetch });
    for (const token of [await accessTokenFor(), await accessTokenFor()]) await verifier.verify(token, { scope: CUSTOMERS_READ });
    expect(introspection.calls).toHaveLength(2);
  });

  it("asks on every verification with cacheSeconds 0", async () => {
    const introspection = countedBrokerFetch();
    const verifier = crmVerifier({ fetch: introspection.fetch, cacheSeconds: 0 });
    const token = await accessTokenFor();
    for (let i = 0; i < 3; i++) await verifier.verify(token, { scope: CUSTOMERS_READ });
    expect(introspection.calls).toHaveLength(3);
  });

  it("sends one request for concurrent verifications of one token", async () => {
    const introspection = countedBrokerFetch();
    const verifier = crmVerifier({ fetch: introspection.fetch, cacheSeconds: 0 });
    const token = await accessTokenFor();
    const grants = await Promise.all(Array.from({ length: 5 }, () => verifier.verify(token, { scope: CUSTOMERS_READ })));
    expect(grants.map((grant) => grant.agent)).toEqual(Array(5).fill("support-bot"));
    expect(introspection.calls).toHaveLength(1);
  });

  it("never asks about a token that fails the offline checks", async () => {
    const introspection = countedBrokerFetch();
    const verifier = crmVerifier({ fetch: introspection.fetch });
    expect(await refusalCode(verifier, await signToken(await testKey("rogue-online")))).toBe("ERR_WRIT_KEY_UNKNOWN");
    expect(await refusalCode(verifier, await accessTokenFor(), "crm.customers.export")).toBe("ERR_WRIT_SCOPE_INSUFFICIENT");
    expect(introspection.calls).toEqual([]);
  });

  it("refuses with ERR_WRIT_INTROSPECTION_UNAVAILABLE when the broker refuses the credential (401), and caches no failure", async () => {
    const introspection = countedBrokerFetch();
    const verifier = crmVerifier({ fetch: introspection.fetch, credential: "wrong-secret-wrong-secret" });
    const token = await accessTokenFor();
    const error = await verifier.verify(token, { scope: CUSTOMERS_READ }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ERR_WRIT_INTROSPECTION_UNAVAILABLE", message: expect.stringContaining("HTTP 401") });
    expect((error as Error).message).not.toContain("wrong-secret");
    expect(await refusalCode(verifier, token)).toBe("ERR_WRIT_INTROSPECTION_UNAVAILABLE");
    expect(introspection.calls).toHaveLength(2);
  });

  it("asks the endpoint it is given, through the verifier's own fetch when introspection has none", async () => {
    const counted = countedBrokerFetch();
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: CRM_API,
      fetch: counted.fetch,
      introspection: { credential: CRM_SECRET, endpoint: `${ISSUER}/introspect?tenant=crm` },
    });
    await verifier.verify(await accessTokenFor(), { scope: CUSTOMERS_READ });
    expect(counted.calls.map((call) => call.url)).toEqual([`${ISSUER}/.well-known/jwks.json`, `${ISSUER}/introspect?tenant=crm`]);
  });
});

describe("online cache window, with the clock moved instead of waited for", () => {
  function introspector(cacheSeconds: number) {
    const clock = { nowMs: Date.now() };
    const counted = countedBrokerFetch();
    const resolved = resolveOptions({
      issuer: ISSUER,
      audience: CRM_API,
      introspection: { credential: CRM_SECRET, cacheSeconds, fetch: counted.fetch },
    });
    if (resolved.introspection === undefined) throw new Error("introspection options were not resolved");
    const introspect = createIntrospector(resolved.introspection, () => clock.nowMs);
    return { introspect, clock, calls: counted.calls };
  }

  it("keeps accepting a revoked token until its answer is cacheSeconds old, then refuses it", async () => {
    const { introspect, clock, calls } = introspector(5);
    const token = await accessTokenFor();
    const grant = await crmVerifier().verify(token, { scope: CUSTOMERS_READ });
    const subject = { token, jti: grant.jti, audience: grant.audience, expiresAt: grant.expiresAt };
    await introspect(subject);
    await revoke(token);
    clock.nowMs += 4999;
    await expect(introspect(subject)).resolves.toBeUndefined();
    expect(calls).toHaveLength(1);
    clock.nowMs += 1;
    await expect(introspect(subject)).rejects.toMatchObject({ code: "ERR_WRIT_TOKEN_INACTIVE" });
    expect(calls).toHaveLength(2);
  });

  it("never reuses an answer past the token's exp", async () => {
    const { introspect, clock, calls } = introspector(60);
    const token = await accessTokenFor();
    const grant = await crmVerifier().verify(token, { scope: CUSTOMERS_READ });
    // As if the token expired a second from now: its answer must not outlive it, whatever cacheSeconds says.
    const subject = { token, jti: grant.jti, audience: grant.audience, expiresAt: new Date(clock.nowMs + 1000) };
    await introspect(subject);
    clock.nowMs += 999;
    await introspect(subject);
    expect(calls).toHaveLength(1);
    clock.nowMs += 1;
    await introspect(subject);
    expect(calls).toHaveLength(2);
  });
});
