import { describe, expect, it } from "vitest";
import { createVerifier, type VerifierOptions } from "../../verifier/index.ts";
import { ISSUER } from "../support/assertions.ts";
import { CRM_API } from "../support/demo-policy.ts";

const base: VerifierOptions = { issuer: ISSUER, audience: CRM_API };
const jwks = { keys: [] };

describe("createVerifier options are checked once, at creation", () => {
  it("accepts the minimal options and exposes issuer and audience", () => {
    const verifier = createVerifier(base);
    expect(verifier).toMatchObject({ issuer: ISSUER, audience: CRM_API });
    expect(Object.isFrozen(verifier)).toBe(true);
  });

  it.each<[string, unknown]>([
    ["no options", undefined],
    ["no issuer", { audience: CRM_API }],
    ["an issuer that is not a URL", { ...base, issuer: "writ" }],
    ["an issuer with a trailing slash (tokens carry it without)", { ...base, issuer: `${ISSUER}/` }],
    ["an issuer with a query", { ...base, issuer: `${ISSUER}?tenant=a` }],
    ["an empty audience", { ...base, audience: "" }],
    ["alg none", { ...base, algorithms: ["none"] }],
    ["HS256 (algorithm confusion with the public key)", { ...base, algorithms: ["ES256", "HS256"] }],
    ["an empty algorithm list", { ...base, algorithms: [] }],
    ["a negative clock tolerance", { ...base, clockToleranceSeconds: -1 }],
    ["a clock tolerance over 300 s", { ...base, clockToleranceSeconds: 301 }],
    ["a NaN clock tolerance", { ...base, clockToleranceSeconds: Number.NaN }],
    ["a plain-http JWKS on a public host", { ...base, issuer: "http://writ.example.com" }],
    ["a jwksUri that is not http(s)", { ...base, jwksUri: "file:///etc/jwks.json" }],
    ["both jwks and jwksUri", { ...base, jwks, jwksUri: `${ISSUER}/.well-known/jwks.json` }],
    ["fetch beside local jwks", { ...base, jwks, fetch: () => Promise.resolve(new Response()) }],
    ["jwks that is not a key set", { ...base, jwks: { kty: "EC" } }],
    ["a negative cooldown", { ...base, cooldownMs: -1 }],
    ["a NaN cache max age", { ...base, cacheMaxAgeMs: Number.NaN }],
    ["a zero maxTokenAgeSeconds", { ...base, maxTokenAgeSeconds: 0 }],
    ["a negative maxTokenAgeSeconds", { ...base, maxTokenAgeSeconds: -60 }],
    ["a fractional maxTokenAgeSeconds", { ...base, maxTokenAgeSeconds: 1.5 }],
    ["an infinite maxTokenAgeSeconds", { ...base, maxTokenAgeSeconds: Number.POSITIVE_INFINITY }],
    ["a maxTokenAgeSeconds written as jose's duration text", { ...base, maxTokenAgeSeconds: "5m" }],
  ])("throws TypeError for %s", (_label, options) => {
    expect(() => createVerifier(options as VerifierOptions)).toThrow(TypeError);
  });

  it("allows plain http for a JWKS on localhost, for local development", () => {
    expect(() => createVerifier({ ...base, issuer: "http://localhost:8787" })).not.toThrow();
  });

  it("allows an infinite cache max age, as jose does", () => {
    expect(() => createVerifier({ ...base, cacheMaxAgeMs: Number.POSITIVE_INFINITY })).not.toThrow();
  });

  it("is stateless unless introspection is configured", () => {
    expect(createVerifier(base).online).toBe(false);
    expect(createVerifier({ ...base, introspection: { credential: "crm-secret-for-tests" } }).online).toBe(true);
  });

  const online = (introspection: unknown) => ({ ...base, introspection });

  it.each<[string, unknown]>([
    ["introspection that is not an object", online("crm-secret-for-tests")],
    ["introspection without a credential", online({})],
    ["an empty credential", online({ credential: "" })],
    ["a credential with a space", online({ credential: "two words" })],
    ["a credential with a line break (header injection)", online({ credential: "secret\r\nX-Admin: 1" })],
    ["an introspection endpoint that is not a URL", online({ credential: "s3cret", endpoint: "introspect" })],
    [
      "a plain-http introspection endpoint on a public host",
      online({ credential: "s3cret", endpoint: "http://writ.example.com/introspect" }),
    ],
    [
      "a default introspection endpoint that would be plain http",
      { ...base, issuer: "http://writ.example.com", jwks, introspection: { credential: "s3cret" } },
    ],
    ["an introspection endpoint with a fragment", online({ credential: "s3cret", endpoint: `${ISSUER}/introspect#x` })],
    ["a negative cacheSeconds", online({ credential: "s3cret", cacheSeconds: -1 })],
    ["a cacheSeconds over 60", online({ credential: "s3cret", cacheSeconds: 61 })],
    ["a fractional cacheSeconds", online({ credential: "s3cret", cacheSeconds: 1.5 })],
    ["a NaN cacheSeconds", online({ credential: "s3cret", cacheSeconds: Number.NaN })],
    ["a zero timeoutMs", online({ credential: "s3cret", timeoutMs: 0 })],
    ["an infinite timeoutMs", online({ credential: "s3cret", timeoutMs: Number.POSITIVE_INFINITY })],
    ["an introspection fetch that is not a function", online({ credential: "s3cret", fetch: "fetch" })],
  ])("throws TypeError for %s", (_label, options) => {
    expect(() => createVerifier(options as VerifierOptions)).toThrow(TypeError);
  });

  it("never echoes the credential in a misuse message", () => {
    expect(() => createVerifier(online({ credential: "hunter2 hunter2" }) as VerifierOptions)).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining("hunter2") }),
    );
  });

  it.each([0, 60])("accepts cacheSeconds %d", (cacheSeconds) => {
    expect(() => createVerifier(online({ credential: "s3cret", cacheSeconds }) as VerifierOptions)).not.toThrow();
  });

  it("allows a plain-http introspection endpoint on localhost and local jwks beside introspection", () => {
    const introspection = { credential: "s3cret", endpoint: "http://localhost:8787/introspect" };
    expect(() => createVerifier({ ...base, jwks, introspection })).not.toThrow();
  });

  it("rejects HMAC algorithms at the type level too", () => {
    // @ts-expect-error HS256 is not a VerifierAlgorithm
    expect(() => createVerifier({ ...base, algorithms: ["HS256"] })).toThrow(/asymmetric/);
  });
});
