import { describe, expect, it } from "vitest";
import { createVerifier, type VerifierOptions } from "../../verifier/index.ts";
import { AUDIENCE, ISSUER } from "./tokens.ts";

const base: VerifierOptions = { issuer: ISSUER, audience: AUDIENCE };
const jwks = { keys: [] };

describe("createVerifier options are checked once, at creation", () => {
  it("accepts the minimal options and exposes issuer and audience", () => {
    const verifier = createVerifier(base);
    expect(verifier).toMatchObject({ issuer: ISSUER, audience: AUDIENCE });
    expect(Object.isFrozen(verifier)).toBe(true);
  });

  it.each<[string, unknown]>([
    ["no options", undefined],
    ["no issuer", { audience: AUDIENCE }],
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
  ])("throws TypeError for %s", (_label, options) => {
    expect(() => createVerifier(options as VerifierOptions)).toThrow(TypeError);
  });

  it("allows plain http for a JWKS on localhost, for local development", () => {
    expect(() => createVerifier({ ...base, issuer: "http://localhost:8787" })).not.toThrow();
  });

  it("allows an infinite cache max age, as jose does", () => {
    expect(() => createVerifier({ ...base, cacheMaxAgeMs: Number.POSITIVE_INFINITY })).not.toThrow();
  });

  it("rejects HMAC algorithms at the type level too", () => {
    // @ts-expect-error HS256 is not a VerifierAlgorithm
    expect(() => createVerifier({ ...base, algorithms: ["HS256"] })).toThrow(/asymmetric/);
  });
});
