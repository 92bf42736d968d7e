/**
 * Federated workload identity from the attacker's side (docs/workload-identity.md). The demo policy trusts the dev
 * workload issuer (inline keys) and maps one GitHub, one Kubernetes and one SPIFFE identity to demo agents. Every
 * bent token must get the exact generic `invalid_grant`, name the failed check only in the log, and leave every
 * agent's ledger as it was. Remote key sets (unknown kid, cooldown, unreachable issuer) are covered against a real
 * issuer server in test/e2e/workload-identity.test.ts.
 */
import { env, exports } from "cloudflare:workers";
import { decodeJwt, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import {
  DEV_WORKLOAD_AUDIENCE,
  DEV_WORKLOAD_ISSUER,
  devWorkloadClaims,
  mintDevWorkloadToken,
} from "../../core/identity/federation-dev-issuer.ts";
import devIssuerKey from "../../core/identity/fixtures/dev-workload-issuer-key.json" with { type: "json" };
import worker from "../../worker/index.ts";
import { assertionFor, ISSUER } from "../support/assertions.ts";
import { CUSTOMERS_READ } from "../support/demo-policy.ts";
import { type LedgerSnapshot, ledgerSnapshots } from "../support/ledger-snapshot.ts";
import { expectInvalidSubjectToken, expectIssued, expectRefusal } from "../support/token-checks.ts";
import { postToken, type TokenExchangeResult, tokenExchangeForm } from "../support/token-endpoint.ts";

const ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token";
const DEMO_AGENTS = ["support-bot", "billing-agent", "report-bot", "retired-bot"];
const DEV_KID = devIssuerKey.kid;

let devKey: CryptoKey;
let attackerRsa: CryptoKey;
let attackerEc: CryptoKey;

beforeAll(async () => {
  devKey = (await importJWK(devIssuerKey as JWK, "RS256")) as CryptoKey;
  attackerRsa = (await generateKeyPair("RS256")).privateKey;
  attackerEc = (await generateKeyPair("ES256")).privateKey;
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A dev-issuer GitHub token for the mapped repository, with `patch` applied, signed as the test says. */
function github(patch: JWTPayload = {}, signing: { key?: CryptoKey; alg?: string; kid?: string } = {}): Promise<string> {
  const claims = { ...devWorkloadClaims("github", "acme/support-bot", DEV_WORKLOAD_AUDIENCE, new Date()), ...patch };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: signing.alg ?? "RS256", kid: signing.kid ?? DEV_KID, typ: "JWT" })
    .sign(signing.key ?? devKey);
}

function exchange(subjectToken: string, extra: Record<string, string> = {}): Promise<TokenExchangeResult> {
  return postToken(tokenExchangeForm(subjectToken, extra));
}

async function expectNothingSpent(attack: () => Promise<void>): Promise<void> {
  const before: Record<string, LedgerSnapshot> = await ledgerSnapshots(DEMO_AGENTS);
  await attack();
  expect(await ledgerSnapshots(DEMO_AGENTS)).toEqual(before);
}

describe("exchanging a workload token (the baseline the attacks bend)", () => {
  it.each([
    ["github", "acme/support-bot", "support-bot", "repo:acme/support-bot:ref:refs/heads/main"],
    ["kubernetes", "billing/billing-agent", "billing-agent", "system:serviceaccount:billing:billing-agent"],
    ["spiffe", "ns/support/sa/support-bot", "support-bot", "spiffe://dev.writ.invalid/ns/support/sa/support-bot"],
  ] as const)("issues a %s token's mapped agent a token that says how it authenticated", async (kind, subject, agentId, workloadSub) => {
    const result = await exchange(await mintDevWorkloadToken(kind, subject, new Date()));
    const claims = decodeJwt(expectIssued(result));
    expect(claims).toMatchObject({
      sub: agentId,
      client_id: agentId,
      scope: CUSTOMERS_READ,
      agent_auth: { method: "workload_identity", iss: DEV_WORKLOAD_ISSUER, sub: workloadSub },
    });
    expect(result.log).toMatchObject({ agent: agentId });
  });

  it("accepts a GitHub token announced as an OIDC ID token (RFC 8693 §3)", async () => {
    expectIssued(await exchange(await github(), { subject_token_type: ID_TOKEN_TYPE }));
  });

  it("accepts the same workload token again within its lifetime, burning nothing (reuse is the issuer's default)", async () => {
    const token = await github();
    const before = await ledgerSnapshots(["support-bot"]);
    expectIssued(await exchange(token));
    expectIssued(await exchange(token));
    const after = await ledgerSnapshots(["support-bot"]);
    expect(after["support-bot"]?.used_assertions).toEqual(before["support-bot"]?.used_assertions);
    expect(after["support-bot"]?.issued_tokens.length).toBe((before["support-bot"]?.issued_tokens.length ?? 0) + 2);
  });

  it("does not mark tokens of agents that signed their own assertion", async () => {
    expect(decodeJwt(expectIssued(await exchange(await assertionFor("support-bot"))))).not.toHaveProperty("agent_auth");
  });
});

describe("bent workload tokens", () => {
  it.each<[string, () => Promise<string>, string]>([
    [
      "from an issuer the policy does not trust",
      () =>
        new SignJWT({
          ...devWorkloadClaims("github", "acme/support-bot", DEV_WORKLOAD_AUDIENCE, new Date()),
          iss: "https://token.evil.example",
        })
          .setProtectedHeader({ alg: "RS256", kid: DEV_KID })
          .sign(attackerRsa),
      "untrusted_issuer",
    ],
    ["for another audience", () => github({ aud: "https://someone-else.example" }), "wrong_audience"],
    ["expired", () => github({ iat: nowSeconds() - 900, nbf: nowSeconds() - 900, exp: nowSeconds() - 600 }), "expired"],
    [
      "older than max_token_age_seconds though unexpired",
      () => github({ iat: nowSeconds() - 7200, exp: nowSeconds() + 600 }),
      "token_too_old",
    ],
    [
      "signed with an algorithm the issuer does not list (ES256)",
      () => github({}, { key: attackerEc, alg: "ES256" }),
      "algorithm_not_allowed",
    ],
    [
      "signed with HS256, the issuer's public key as the secret",
      () => github({}, { key: new TextEncoder().encode(devIssuerKey.n) as unknown as CryptoKey, alg: "HS256" }),
      "algorithm_not_allowed",
    ],
    [
      "for a repository no rule maps",
      () => github({ repository: "acme/other", sub: "repo:acme/other:ref:refs/heads/main" }),
      "no_matching_rule",
    ],
    ["for a branch the rule does not pin", () => github({ ref: "refs/heads/attacker" }), "no_matching_rule"],
    ["naming a kid the issuer does not have", () => github({}, { kid: "dev-workload-issuer-9" }), "unknown_key"],
    ["signed by a key not in the issuer's set, under its kid", () => github({}, { key: attackerRsa }), "bad_signature"],
  ])("refuses a token %s with the generic invalid_grant and spends nothing", async (_, token, failure) => {
    await expectNothingSpent(async () => expectInvalidSubjectToken(await exchange(await token()), failure as never));
  });

  it("refuses an agent's own assertion announced as an ID token", async () => {
    await expectNothingSpent(async () =>
      expectRefusal(await exchange(await assertionFor("support-bot"), { subject_token_type: ID_TOKEN_TYPE }), {
        status: 400,
        error: "invalid_request",
        reason: "unsupported_token_type",
        description: "subject_token_type is not supported",
      }),
    );
  });

  it("refuses a workload token whose client_id names another agent than the one it maps to", async () => {
    await expectNothingSpent(async () =>
      expectRefusal(await exchange(await github(), { client_id: "billing-agent" }), {
        status: 400,
        error: "invalid_grant",
        reason: "subject_client_mismatch",
      }),
    );
  });

  it("refuses a workload token mapped to a disabled agent, as the agent's own key would be", async () => {
    await expectNothingSpent(async () =>
      expectRefusal(await exchange(await mintDevWorkloadToken("kubernetes", "pilot/retired-bot", new Date())), {
        status: 403,
        error: "access_denied",
        reason: "agent_disabled",
      }),
    );
  });
});

describe("the dev workload issuer", () => {
  const mint = (body: unknown, bindings: typeof env = env) =>
    worker.fetch(
      new Request(`${ISSUER}/dev/workload-issuer/token`, {
        method: "POST",
        body: JSON.stringify(body),
        headers: { "content-type": "application/json" },
      }),
      bindings,
    );

  it("publishes its keys and mints each kind", async () => {
    const jwks = await exports.default.fetch(`${ISSUER}/dev/workload-issuer/jwks.json`);
    expect(jwks.status).toBe(200);
    const { keys } = await jwks.json<{ keys: JWK[] }>();
    expect(keys.map((k) => k.kid)).toEqual([DEV_KID]);
    expect(keys[0]).not.toHaveProperty("d");
    for (const kind of ["github", "kubernetes", "spiffe"]) {
      const response = await mint({ kind, subject: kind === "github" ? "acme/app" : "ns/sa" });
      expect(response.status).toBe(200);
      const { token } = await response.json<{ token: string }>();
      expect(decodeJwt(token).iss).toBe(DEV_WORKLOAD_ISSUER);
    }
  });

  it("refuses an unknown kind or a malformed subject", async () => {
    expect((await mint({ kind: "aws", subject: "x" })).status).toBe(400);
    expect((await mint({ kind: "github", subject: "no-slash" })).status).toBe(400);
  });

  it("is not trusted outside local development even if the policy says so: the broker refuses to decide (500), spending nothing", async () => {
    // writ policy check refuses this policy for a deploy, but an inherited WRIT_ALLOW_DEMO_KEYS=1 or a plain
    // `wrangler deploy` skips that check: the broker itself must not honour the published key.
    const token = await mintDevWorkloadToken("github", "acme/support-bot", new Date());
    const production: typeof env = { ...env, DEV_OUTBOX: "false" };
    const before = await ledgerSnapshots(DEMO_AGENTS);
    const response = await worker.fetch(
      new Request(`${ISSUER}/token`, {
        method: "POST",
        body: tokenExchangeForm(token),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
      production,
    );
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain("access_token");
    expect(await ledgerSnapshots(DEMO_AGENTS)).toEqual(before);
  });

  it("does not exist outside local development (DEV_OUTBOX off): 404 like any unknown path", async () => {
    const production: typeof env = { ...env, DEV_OUTBOX: "false" };
    expect((await mint({ kind: "github", subject: "acme/support-bot" }, production)).status).toBe(404);
    const jwks = await worker.fetch(new Request(`${ISSUER}/dev/workload-issuer/jwks.json`), production);
    expect(jwks.status).toBe(404);
  });
});
