import { Hono } from "hono";
import { beforeAll, describe, expect, it } from "vitest";
import { writAuth } from "../../verifier/hono.ts";
import { createVerifier, DPOP_ALGORITHMS, type Verifier, type WritVerifyError } from "../../verifier/index.ts";
import { brokenKeyResolver, jwksEndpoint, jwksOf, signToken, type TestKey, testKey } from "../support/access-tokens.ts";
import { ISSUER } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { bearer } from "../support/http.ts";

/** What the middleware offers beside Bearer since it checks DPoP proofs (RFC 9449 §7.1). */
const DPOP_CHALLENGE = `DPoP realm="${CRM_API}", algs="${DPOP_ALGORITHMS.join(" ")}"`;

let key: TestKey;
let verifier: Verifier;

beforeAll(async () => {
  key = await testKey("writ-1");
  verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key) });
});

/** A route protected like a real service, recording every refusal's internal code as an audit log would. */
function protectedApp(options: { verifier?: Verifier; scope?: string | string[] } = {}) {
  const refusals: WritVerifyError[] = [];
  const app = new Hono();
  app.get(
    "/customers",
    writAuth({
      verifier: options.verifier ?? verifier,
      scope: options.scope ?? CUSTOMERS_READ,
      onRefusal: (error) => void refusals.push(error),
    }),
    (c) => c.json({ agent: c.var.writ.agent, useCase: c.var.writ.useCase, limits: c.var.writ.limits }),
  );
  app.onError((_error, c) => c.json({ error: "server_error" }, 500));
  return { app, refusals };
}

describe("writAuth", () => {
  it("lets a valid token through and gives the route its typed grant as c.var.writ", async () => {
    const { app, refusals } = protectedApp();
    const res = await app.request("/customers", bearer(await signToken(key)));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agent: "support-bot", useCase: CUSTOMERS_READ, limits: { max_rows: 100 } });
    expect(refusals).toEqual([]);
  });

  it("accepts the Bearer scheme in any case (RFC 9110 §11.1)", async () => {
    const { app } = protectedApp();
    const res = await app.request("/customers", { headers: { Authorization: `bEaReR ${await signToken(key)}` } });
    expect(res.status).toBe(200);
  });

  it("answers a request without credentials with a bare Bearer challenge and no error code (RFC 6750 §3.1)", async () => {
    const { app, refusals } = protectedApp();
    const res = await app.request("/customers");
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe(`Bearer realm="${CRM_API}", ${DPOP_CHALLENGE}`);
    const body = await res.json<Record<string, unknown>>();
    expect(body.error).toBeUndefined();
    expect(body.error_description).toMatch(/Bearer/);
    expect(refusals.map((e) => e.code)).toEqual(["ERR_WRIT_TOKEN_MISSING"]);
  });

  it("treats another authentication scheme as no credentials", async () => {
    const { app } = protectedApp();
    const res = await app.request("/customers", { headers: { Authorization: "Basic c3VwcG9ydDpodW50ZXIy" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe(`Bearer realm="${CRM_API}", ${DPOP_CHALLENGE}`);
  });

  it("refuses two Authorization headers with 400 invalid_request", async () => {
    const { app, refusals } = protectedApp();
    const token = await signToken(key);
    const res = await app.request("/customers", {
      headers: [
        ["Authorization", `Bearer ${token}`],
        ["Authorization", `Bearer ${token}`],
      ],
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("WWW-Authenticate")).toMatch(
      /^Bearer realm="[^"]+", error="invalid_request", error_description="[^"]+", DPoP realm="[^"]+", algs="[^"]+"$/,
    );
    expect(await res.json()).toMatchObject({ error: "invalid_request" });
    expect(refusals.map((e) => e.code)).toEqual(["ERR_WRIT_AUTHORIZATION_MALFORMED"]);
  });

  it.each(["Bearer", "Bearer ", "Bearer a b", "Bearer tok*en", "Bearer =abc"])(
    "refuses the malformed credentials %j with 400 invalid_request",
    async (header) => {
      const { app } = protectedApp();
      const res = await app.request("/customers", { headers: { Authorization: header } });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: "invalid_request" });
    },
  );

  it("answers a bad token with 401 invalid_token and never echoes the token", async () => {
    const { app, refusals } = protectedApp();
    const forged = await signToken(await testKey("rogue-1"));
    const res = await app.request("/customers", bearer(forged));
    expect(res.status).toBe(401);
    const challenge = res.headers.get("WWW-Authenticate") ?? "";
    expect(challenge).toBe(
      `Bearer realm="${CRM_API}", error="invalid_token", error_description="the access token is signed with a key the issuer does not publish", ${DPOP_CHALLENGE}`,
    );
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      error: "invalid_token",
      error_description: "the access token is signed with a key the issuer does not publish",
    });
    expect(text).not.toContain(forged.split(".")[2]);
    expect(refusals.map((e) => e.code)).toEqual(["ERR_WRIT_KEY_UNKNOWN"]);
  });

  it("answers an expired token with 401 invalid_token", async () => {
    const { app, refusals } = protectedApp();
    const now = Math.floor(Date.now() / 1000);
    const res = await app.request(
      "/customers",
      bearer(await signToken(key, { claims: { iat: now - 900, nbf: now - 900, exp: now - 600 } })),
    );
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "invalid_token", error_description: "the access token has expired" });
    expect(refusals.map((e) => e.code)).toEqual(["ERR_WRIT_EXPIRED"]);
  });

  it("answers a token for another use case with 403 insufficient_scope naming the use case the route needs", async () => {
    const { app, refusals } = protectedApp({ scope: "crm.customers.export" });
    const res = await app.request("/customers", bearer(await signToken(key)));
    expect(res.status).toBe(403);
    expect(res.headers.get("WWW-Authenticate")).toBe(
      `Bearer realm="${CRM_API}", error="insufficient_scope", error_description="the access token is for another use case", scope="crm.customers.export", ${DPOP_CHALLENGE}`,
    );
    expect(await res.json()).toMatchObject({ error: "insufficient_scope" });
    expect(refusals.map((e) => e.code)).toEqual(["ERR_WRIT_SCOPE_INSUFFICIENT"]);
  });

  it("answers 503 without a challenge when the issuer's keys cannot be fetched", async () => {
    const endpoint = jwksEndpoint(key);
    endpoint.fail(new Response("down", { status: 502 }));
    const { app } = protectedApp({ verifier: createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: endpoint.fetch }) });
    const res = await app.request("/customers", bearer(await signToken(key)));
    expect(res.status).toBe(503);
    expect(res.headers.get("WWW-Authenticate")).toBeNull();
    expect(await res.json()).toMatchObject({ error: "temporarily_unavailable" });
  });

  it("answers a token the broker calls inactive (online mode) with 401 invalid_token", async () => {
    const online = createVerifier({
      issuer: ISSUER,
      audience: CRM_API,
      jwks: jwksOf(key),
      introspection: { credential: "crm-secret-for-tests", fetch: async () => Response.json({ active: false }) },
    });
    const { app, refusals } = protectedApp({ verifier: online });
    const res = await app.request("/customers", bearer(await signToken(key)));
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe(
      `Bearer realm="${CRM_API}", error="invalid_token", error_description="the access token is no longer active", ${DPOP_CHALLENGE}`,
    );
    expect(await res.json()).toEqual({ error: "invalid_token", error_description: "the access token is no longer active" });
    expect(refusals.map((e) => e.code)).toEqual(["ERR_WRIT_TOKEN_INACTIVE"]);
  });

  it("answers 503 with Retry-After and no challenge when /introspect cannot answer (online mode fails closed)", async () => {
    const online = createVerifier({
      issuer: ISSUER,
      audience: CRM_API,
      jwks: jwksOf(key),
      introspection: { credential: "crm-secret-for-tests", fetch: async () => new Response("down", { status: 502 }) },
    });
    const { app, refusals } = protectedApp({ verifier: online });
    const res = await app.request("/customers", bearer(await signToken(key)));
    expect(res.status).toBe(503);
    expect(res.headers.get("WWW-Authenticate")).toBeNull();
    expect(res.headers.get("Retry-After")).toBe("5");
    expect(await res.json()).toEqual({
      error: "temporarily_unavailable",
      error_description: "the token issuer cannot confirm the access token is still active, try again later",
    });
    expect(refusals.map((e) => e.code)).toEqual(["ERR_WRIT_INTROSPECTION_UNAVAILABLE"]);
  });

  it("lets errors that are not refusals reach Hono's onError (a bug is a 500, not a 401)", async () => {
    const broken = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: brokenKeyResolver });
    const { app, refusals } = protectedApp({ verifier: broken });
    const res = await app.request("/customers", bearer(await signToken(key)));
    expect(res.status).toBe(500);
    expect(refusals).toEqual([]);
  });

  it("returns a named handler, so stack traces and Hono's inspector show it", () => {
    expect(writAuth({ verifier, scope: CUSTOMERS_READ }).name).toBe("writAuthHandler");
  });
});

describe("writAuth options are checked once, at creation", () => {
  // Factories: the verifier exists only once beforeAll has run.
  it.each<[string, () => unknown]>([
    ["no verifier", () => ({ scope: CUSTOMERS_READ })],
    ["something that is not a verifier", () => ({ verifier: { audience: CRM_API }, scope: CUSTOMERS_READ })],
    ["no scope (a route must name the use case it needs)", () => ({ verifier })],
    ["an empty scope list", () => ({ verifier, scope: [] })],
    ["a scope with a space", () => ({ verifier, scope: "crm.customers.read crm.customers.export" })],
    ["a realm with a quote (header injection)", () => ({ verifier, scope: CUSTOMERS_READ, realm: 'crm", error="none' })],
    ["an empty realm", () => ({ verifier, scope: CUSTOMERS_READ, realm: "" })],
    ["an onRefusal that is not a function", () => ({ verifier, scope: CUSTOMERS_READ, onRefusal: "log" })],
  ])("throws TypeError for %s", (_label, options) => {
    expect(() => writAuth(options() as Parameters<typeof writAuth>[0])).toThrow(TypeError);
  });
});
