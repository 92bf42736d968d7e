import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type CompiledIssuer,
  claimedTrustedIssuer,
  compileFederation,
  IssuerUnreachableError,
  looksLikeIssuerUrl,
  verifyWorkloadToken,
} from "../../../core/identity/federation.ts";
import {
  DEV_WORKLOAD_AUDIENCE,
  DEV_WORKLOAD_ISSUER,
  devWorkloadClaims,
  devWorkloadIssuerProblems,
  devWorkloadJwks,
  mintDevWorkloadToken,
} from "../../../core/identity/federation-dev-issuer.ts";
import { compilePolicy } from "../../../core/policy/compile-policy.ts";
import { insecureJwksUris, type TrustedIssuer, TrustedIssuerSchema } from "../../../schemas/trusted-issuer.ts";

const NOW = new Date("2026-11-25T12:00:00Z");
const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);
const ISSUER = "https://issuer.example.com";
const AGENT = { id: "a", name: "A", keys: [{ kid: "k1", kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" }] };

let signingKey: CryptoKey;
let otherKey: CryptoKey;
let publicJwk: JWK;

beforeAll(async () => {
  const pair = await generateKeyPair("ES256");
  signingKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
  otherKey = (await generateKeyPair("ES256")).privateKey;
});

function issuer(overrides: Record<string, unknown> = {}): CompiledIssuer {
  const trusted: TrustedIssuer = TrustedIssuerSchema.parse({
    issuer: ISSUER,
    jwks: { keys: [publicJwk] },
    audience: "writ",
    algorithms: ["ES256"],
    max_token_age_seconds: 600,
    rules: [
      { agent: "deployer", github: { repository: "acme/app", ref: "refs/heads/main" } },
      { agent: "reporter", kubernetes: { namespace: "reports", service_account: "reporter" } },
      { agent: "svid", spiffe_id: "spiffe://example.org/ns/a/sa/b" },
      { agent: "generic", claims: { sub: "job-7", team: "data" } },
    ],
    ...overrides,
  });
  const compiled = compileFederation([trusted]).get(ISSUER);
  if (!compiled) throw new TypeError("issuer not compiled");
  return compiled;
}

function sign(claims: JWTPayload, options: { key?: CryptoKey; kid?: string; alg?: string } = {}): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: "writ", iat: NOW_SECONDS - 10, exp: NOW_SECONDS + 290, ...claims })
    .setProtectedHeader({ alg: options.alg ?? "ES256", kid: options.kid ?? "k1" })
    .sign(options.key ?? signingKey);
}

async function verify(jwt: string, trusted = issuer()) {
  if (trusted.keys.kind !== "inline") throw new TypeError("inline keys expected");
  return verifyWorkloadToken(jwt, trusted, trusted.keys.getKey, NOW);
}

const GITHUB = { sub: "repo:acme/app:ref:refs/heads/main", repository: "acme/app", ref: "refs/heads/main" };

describe("mapping verified claims to an agent", () => {
  it.each<[string, JWTPayload, string]>([
    ["a GitHub Actions token by repository and ref", GITHUB, "deployer"],
    [
      "a Kubernetes service-account token by namespace and service account",
      {
        sub: "system:serviceaccount:reports:reporter",
        "kubernetes.io": { namespace: "reports", serviceaccount: { name: "reporter", uid: "u" } },
      },
      "reporter",
    ],
    ["a SPIFFE JWT-SVID by its SPIFFE ID", { sub: "spiffe://example.org/ns/a/sa/b" }, "svid"],
    ["any OIDC token by exact claims", { sub: "job-7", team: "data" }, "generic"],
  ])("maps %s", async (_, claims, agentId) => {
    const result = await verify(await sign(claims));
    expect(result).toEqual({ ok: true, value: { agentId, issuer: ISSUER, subject: claims.sub, rule: expect.any(Number) } });
  });

  it.each<[string, JWTPayload]>([
    ["another branch", { ...GITHUB, ref: "refs/heads/evil" }],
    ["a repository whose name only starts the same", { ...GITHUB, repository: "acme/app-fork" }],
    ["a claim that is a number, not the pinned string", { sub: "job-7", team: 7 }],
    [
      "a Kubernetes token whose sub disagrees with its own claims",
      { sub: "system:serviceaccount:other:x", "kubernetes.io": { namespace: "reports", serviceaccount: { name: "reporter" } } },
    ],
    [
      "the Kubernetes claims flattened into dotted names",
      { sub: "system:serviceaccount:reports:reporter", "kubernetes.io.namespace": "reports" },
    ],
    ["a SPIFFE ID one path segment longer", { sub: "spiffe://example.org/ns/a/sa/b/c" }],
  ])("maps no agent for %s", async (_, claims) => {
    expect(await verify(await sign(claims))).toEqual({ ok: false, failure: "no_matching_rule", detail: expect.stringMatching(/^sub /) });
  });

  it("takes the first rule that matches, in the policy's order", async () => {
    const both = issuer({
      rules: [
        { agent: "first", claims: { sub: "x" } },
        { agent: "second", claims: { sub: "x" } },
      ],
    });
    expect(await verify(await sign({ sub: "x" }), both)).toMatchObject({ ok: true, value: { agentId: "first", rule: 0 } });
  });
});

describe("refusing a workload token", () => {
  it.each<[string, () => Promise<string>, string]>([
    ["for another audience", () => sign({ ...GITHUB, aud: "someone-else" }), "wrong_audience"],
    ["expired", () => sign({ ...GITHUB, iat: NOW_SECONDS - 400, exp: NOW_SECONDS - 100 }), "expired"],
    [
      "older than the issuer's maximum age, though unexpired",
      () => sign({ ...GITHUB, iat: NOW_SECONDS - 700, exp: NOW_SECONDS + 3600 }),
      "token_too_old",
    ],
    ["issued in the future", () => sign({ ...GITHUB, iat: NOW_SECONDS + 120 }), "issued_in_future"],
    ["without iat (its age cannot be told)", () => sign({ ...GITHUB, iat: undefined }), "missing_claim"],
    ["from another issuer under this issuer's key", () => sign({ ...GITHUB, iss: "https://other.example.com" }), "issuer_subject_mismatch"],
    ["signed by a key not in the issuer's set, under a kid that is", () => sign(GITHUB, { key: otherKey }), "bad_signature"],
    ["naming a kid the issuer does not have", () => sign(GITHUB, { kid: "k9" }), "unknown_key"],
    [
      "signed with HS256 and the public key as the secret",
      async () =>
        new SignJWT({ iss: ISSUER, aud: "writ", iat: NOW_SECONDS, exp: NOW_SECONDS + 60, ...GITHUB })
          .setProtectedHeader({ alg: "HS256", kid: "k1" })
          .sign(new TextEncoder().encode(JSON.stringify(publicJwk))),
      "algorithm_not_allowed",
    ],
    ["not a JWT", async () => "not-a-jwt", "malformed"],
  ])("%s", async (_, token, failure) => {
    expect(await verify(await token())).toMatchObject({ ok: false, failure });
  });

  it("refuses an algorithm the issuer does not list, before looking up any key", async () => {
    const rsaOnly = issuer({ algorithms: ["RS256"] });
    let looked = false;
    const result = await verifyWorkloadToken(
      await sign(GITHUB),
      rsaOnly,
      async () => {
        looked = true;
        return signingKey;
      },
      NOW,
    );
    expect(result).toEqual({ ok: false, failure: "algorithm_not_allowed", detail: "alg ES256" });
    expect(looked).toBe(false);
  });

  it("reports an unreachable issuer as such, not as a bad token", async () => {
    const result = await verifyWorkloadToken(
      await sign(GITHUB),
      issuer(),
      async () => {
        throw new IssuerUnreachableError("https://issuer.example.com/jwks: timed out");
      },
      NOW,
    );
    expect(result).toEqual({ ok: false, failure: "issuer_unreachable", detail: "https://issuer.example.com/jwks: timed out" });
  });
});

describe("replay policy", () => {
  it("accepts reuse by default: no proof to burn", async () => {
    const result = await verify(await sign({ ...GITHUB, jti: "j1" }));
    expect(result.ok && result.value.proof).toBeUndefined();
  });

  it("burns the jti of a single_use issuer, namespaced by the issuer, until exp plus the clock tolerance", async () => {
    const result = await verify(await sign({ ...GITHUB, jti: "j1" }), issuer({ replay: "single_use" }));
    expect(result).toMatchObject({ ok: true, value: { proof: { jti: `${ISSUER}#j1`, expiresAt: NOW_SECONDS + 290 + 30 } } });
  });

  it("refuses a token without jti from a single_use issuer", async () => {
    expect(await verify(await sign(GITHUB), issuer({ replay: "single_use" }))).toEqual({
      ok: false,
      failure: "missing_claim",
      detail: "jti",
    });
  });
});

describe("finding the issuer a token claims", () => {
  it("finds a trusted issuer by exact iss, and tells a foreign issuer URL from an agent id", async () => {
    const federation = compileFederation([
      TrustedIssuerSchema.parse({
        issuer: ISSUER,
        jwks: { keys: [publicJwk] },
        audience: "w",
        rules: [{ agent: "a", claims: { sub: "s" } }],
      }),
    ]);
    expect(claimedTrustedIssuer(await sign({ sub: "s" }), federation)?.issuer).toBe(ISSUER);
    expect(claimedTrustedIssuer(await sign({ sub: "s", iss: `${ISSUER}/` }), federation)).toBeUndefined();
    expect(looksLikeIssuerUrl(await sign({ iss: "https://evil.example" }))).toBe("https://evil.example");
    expect(looksLikeIssuerUrl(await sign({ iss: "support-bot" }))).toBeUndefined();
  });
});

describe("the trusted issuer schema", () => {
  const key = { kty: "EC", crv: "P-256", kid: "k1", x: "AAAA", y: "AAAA" };
  const base = { issuer: ISSUER, audience: "writ", rules: [{ agent: "a", claims: { sub: "s" } }] };

  it.each<[string, Record<string, unknown>, string]>([
    ["neither jwks_uri nor jwks", base, "give exactly one of jwks_uri and jwks"],
    ["both jwks_uri and jwks", { ...base, jwks_uri: "https://i/jwks", jwks: { keys: [key] } }, "give exactly one of jwks_uri and jwks"],
    ["a private key in the inline set", { ...base, jwks: { keys: [{ ...key, d: "secret" }] } }, "a private key member"],
    [
      "a GitHub rule that pins no repository",
      { ...base, jwks_uri: "https://i/j", rules: [{ agent: "a", github: { ref: "refs/heads/main" } }] },
      "must pin repository",
    ],
    [
      "a rule with two matchers",
      { ...base, jwks_uri: "https://i/j", rules: [{ agent: "a", spiffe_id: "spiffe://x/y", claims: { sub: "s" } }] },
      "exactly one of",
    ],
    ["a SPIFFE ID with a query", { ...base, jwks_uri: "https://i/j", rules: [{ agent: "a", spiffe_id: "spiffe://x/y?z" }] }, "SPIFFE ID"],
    ["HS256", { ...base, jwks_uri: "https://i/j", algorithms: ["HS256"] }, "Invalid option"],
    [
      // zod's record would drop the key silently and the rule would pin only `sub`: wider than written.
      "a __proto__ claim pin",
      { ...base, jwks_uri: "https://i/j", rules: [{ agent: "a", claims: JSON.parse('{"__proto__": "x", "sub": "s"}') }] },
      "__proto__ is a reserved name",
    ],
  ])("refuses %s", (_, input, message) => {
    const parsed = TrustedIssuerSchema.safeParse(input);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.message).join("\n")).toContain(message);
  });
});

describe("the dev workload issuer's tokens", () => {
  it.each([
    [
      "github",
      "acme/support-bot",
      { sub: "repo:acme/support-bot:ref:refs/heads/main", repository: "acme/support-bot", workflow: "deploy" },
    ],
    ["kubernetes", "billing/billing-agent", { sub: "system:serviceaccount:billing:billing-agent", aud: [DEV_WORKLOAD_AUDIENCE] }],
    ["spiffe", "ns/support/sa/support-bot", { sub: "spiffe://dev.writ.invalid/ns/support/sa/support-bot" }],
  ] as const)("shapes a %s token for %s", (kind, subject, expected) => {
    expect(devWorkloadClaims(kind, subject, DEV_WORKLOAD_AUDIENCE, NOW)).toMatchObject({
      iss: DEV_WORKLOAD_ISSUER,
      iat: NOW_SECONDS,
      ...expected,
    });
  });

  it("signs tokens its published key set verifies, and publishes no private member", async () => {
    const [key] = devWorkloadJwks().keys;
    expect(Object.keys(key ?? {}).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
    const trusted = compileFederation([
      TrustedIssuerSchema.parse({
        issuer: DEV_WORKLOAD_ISSUER,
        jwks: devWorkloadJwks(),
        audience: DEV_WORKLOAD_AUDIENCE,
        algorithms: ["RS256"],
        rules: [{ agent: "billing-agent", kubernetes: { namespace: "billing", service_account: "billing-agent" } }],
      }),
    ]).get(DEV_WORKLOAD_ISSUER);
    if (trusted?.keys.kind !== "inline") throw new TypeError("inline keys expected");
    const token = await mintDevWorkloadToken("kubernetes", "billing/billing-agent", NOW);
    expect(await verifyWorkloadToken(token, trusted, trusted.keys.getKey, NOW)).toMatchObject({
      ok: true,
      value: { agentId: "billing-agent" },
    });
  });

  it("refuses a subject of the wrong shape", () => {
    expect(() => devWorkloadClaims("github", "just-a-name", "a", NOW)).toThrow(TypeError);
    expect(() => devWorkloadClaims("kubernetes", "a/b/c", "a", NOW)).toThrow(TypeError);
  });
});

describe("what policy:check refuses outside local development", () => {
  it("names a trusted dev workload issuer, by name or by its published key, and http: key set URLs", () => {
    const jwks = devWorkloadJwks() as TrustedIssuer["jwks"];
    expect(
      devWorkloadIssuerProblems([
        { issuer: DEV_WORKLOAD_ISSUER, jwks: undefined },
        { issuer: "https://renamed.example", jwks },
        { issuer: ISSUER, jwks: undefined },
      ]),
    ).toEqual([expect.stringMatching(/^trusted_issuers\[0\]: the dev workload issuer/), expect.stringMatching(/^trusted_issuers\[1\]: /)]);
    expect(
      insecureJwksUris([{ jwks_uri: "http://127.0.0.1:9/jwks" }, { jwks_uri: "https://ok.example/jwks" }, { jwks_uri: undefined }]),
    ).toEqual(["trusted_issuers[0].jwks_uri: http://127.0.0.1:9/jwks is not https (allowed for local development only)"]);
  });
});

describe("trusted issuers in the policy", () => {
  const trusted = (agent: string) => ({
    issuer: ISSUER,
    jwks_uri: "https://issuer.example.com/jwks",
    audience: "writ",
    rules: [{ agent, claims: { sub: "s" } }],
  });

  it("compiles a policy whose rules name its agents, and defaults to trusting no one", () => {
    expect(compilePolicy({ version: 1, agents: [AGENT], use_cases: [] }).document.trusted_issuers).toEqual([]);
    expect(
      compilePolicy({ version: 1, agents: [AGENT], use_cases: [], trusted_issuers: [trusted("a")] }).document.trusted_issuers,
    ).toHaveLength(1);
  });

  it("refuses a rule that maps to an agent the policy does not have, and the same issuer twice", () => {
    expect(() => compilePolicy({ version: 1, agents: [AGENT], use_cases: [], trusted_issuers: [trusted("ghost")] })).toThrow(
      'trusted_issuers[0].rules[0].agent: unknown agent "ghost"',
    );
    expect(() => compilePolicy({ version: 1, agents: [AGENT], use_cases: [], trusted_issuers: [trusted("a"), trusted("a")] })).toThrow(
      `trusted_issuers[1].issuer: duplicate issuer "${ISSUER}"`,
    );
  });
});
