/**
 * The real broker (the bundle `npm run build` ships, run by workerd) driven by openid-client, an OAuth client
 * nobody here wrote: if Writ only worked with its own client, these tests would say so. Access tokens are
 * checked the way a downstream service checks them, with jose against the published JWKS (RFC 9068 §4).
 */
import { randomUUID } from "node:crypto";
import { createRemoteJWKSet, decodeProtectedHeader, generateKeyPair, type JWK, type JWTPayload, jwtVerify } from "jose";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signAgentAssertion } from "../../client/index.ts";
import { type Broker, startBroker } from "../../scripts/local-broker.ts";
import { type AgentId, agentPrivateJwk, agentSigningKey } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_EXPORT, CUSTOMERS_READ, CUSTOMERS_TABLE } from "../support/demo-policy.ts";
import { ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE } from "../support/oauth.ts";
import { connectAgent, lastRequest, type OpenIdAgent } from "../support/openid-client.ts";
import { rejectionOf } from "../support/rejection.ts";

/** What a downstream service allow-lists: the algorithms Writ can sign with (SIGNING_ALG). */
const ACCESS_TOKEN_ALGORITHMS = ["ES256", "EdDSA"];
const DEFAULT_TTL_SECONDS = 300;

let broker: Broker;
let jwks: ReturnType<typeof createRemoteJWKSet>;

beforeAll(async () => {
  broker = await startBroker();
  jwks = createRemoteJWKSet(new URL(`${broker.url}/.well-known/jwks.json`));
});

afterAll(async () => {
  await broker?.dispose();
});

describe("discovery (RFC 8414)", () => {
  it("lets openid-client discover the broker from its issuer URL alone", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await agentSigningKey("support-bot")));

    expect(agent.sent[0]?.url).toBe(`${broker.url}/.well-known/oauth-authorization-server`);
    const metadata = agent.config.serverMetadata();
    expect(metadata).toMatchObject({
      issuer: broker.url,
      token_endpoint: `${broker.url}/token`,
      jwks_uri: `${broker.url}/.well-known/jwks.json`,
      authorization_details_types_supported: ["agent_use_case"],
    });
    expect(metadata.grant_types_supported).toEqual(expect.arrayContaining([TOKEN_EXCHANGE, "client_credentials"]));
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(["private_key_jwt", "none"]));
    // Both names of Ed25519: RFC 8037's EdDSA and the fully-specified Ed25519 that openid-client sends.
    expect(metadata.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(["ES256", "EdDSA", "Ed25519"]));
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining([CUSTOMERS_READ, CUSTOMERS_EXPORT]));
  });

  it("publishes only public signing keys, each with kid, alg and use sig (RFC 7517)", async () => {
    const response = await fetch(`${broker.url}/.well-known/jwks.json`);

    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toMatch(/max-age=\d+/);
    const { keys } = (await response.json()) as { keys: JWK[] };
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatchObject({ kid: expect.any(String), use: "sig" });
      expect(ACCESS_TOKEN_ALGORITHMS).toContain(key.alg);
      expect(key).not.toHaveProperty("d");
    }
  });
});

describe("client_credentials with private_key_jwt (RFC 7523 §2.2)", () => {
  it.each<{ agentId: AgentId; alg: string }>([
    { agentId: "support-bot", alg: "ES256" },
    { agentId: "billing-agent", alg: "Ed25519" },
  ])("issues an RFC 9068 access token to $agentId, whose assertion openid-client signs with $alg", async ({ agentId, alg }) => {
    const agent = await connect(agentId, client.PrivateKeyJwt(await agentSigningKey(agentId)));

    const response = await client.clientCredentialsGrant(agent.config, { scope: CUSTOMERS_READ });

    const assertion = lastRequest(agent).body.get("client_assertion") ?? "";
    expect(decodeProtectedHeader(assertion).alg).toBe(alg);
    expect(response).toMatchObject({ token_type: "bearer", scope: CUSTOMERS_READ });
    expect(response.expires_in).toBeLessThanOrEqual(DEFAULT_TTL_SECONDS);
    expectReadGrant(await verifyAccessToken(response.access_token), agentId);
  });
});

describe("token exchange (RFC 8693)", () => {
  it("exchanges a fresh agent assertion for an access token as a public client (auth method none)", async () => {
    const agent = await connect("support-bot", client.None());

    const response = await client.genericGrantRequest(agent.config, TOKEN_EXCHANGE, {
      subject_token: await freshAssertion("support-bot"),
      subject_token_type: JWT_TOKEN_TYPE,
      scope: CUSTOMERS_READ,
    });

    expect(lastRequest(agent).body.has("client_assertion")).toBe(false);
    expect(response).toMatchObject({ token_type: "bearer", issued_token_type: ACCESS_TOKEN_TYPE, scope: CUSTOMERS_READ });
    expectReadGrant(await verifyAccessToken(response.access_token), "support-bot");
  });

  it("exchanges a fresh agent assertion when openid-client also authenticates with private_key_jwt", async () => {
    const agent = await connect("billing-agent", client.PrivateKeyJwt(await agentSigningKey("billing-agent")));

    const response = await client.genericGrantRequest(agent.config, TOKEN_EXCHANGE, {
      subject_token: await freshAssertion("billing-agent"),
      subject_token_type: JWT_TOKEN_TYPE,
      scope: CUSTOMERS_READ,
    });

    expect(lastRequest(agent).body.has("client_assertion")).toBe(true);
    expect(response).toMatchObject({ token_type: "bearer", issued_token_type: ACCESS_TOKEN_TYPE, scope: CUSTOMERS_READ });
    expectReadGrant(await verifyAccessToken(response.access_token), "billing-agent");
  });

  it("refuses a subject token about another agent than the authenticated client (invalid_grant)", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await agentSigningKey("support-bot")));

    const error = await refusal(
      client.genericGrantRequest(agent.config, TOKEN_EXCHANGE, {
        subject_token: await freshAssertion("billing-agent"),
        subject_token_type: JWT_TOKEN_TYPE,
        scope: CUSTOMERS_READ,
      }),
    );

    expect(error).toMatchObject({ status: 400, error: "invalid_grant" });
    expect(await broker.requestLog(lastRequest(agent).requestId)).toMatchObject({ decision: "denied", reason: "subject_client_mismatch" });
  });
});

describe("authorization_details (RFC 9396)", () => {
  it("grants the use case named only in authorization_details, and says what it granted", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await agentSigningKey("support-bot")));
    const requested = [{ type: "agent_use_case", use_case: CUSTOMERS_READ, actions: ["read"] }];

    const response = await client.clientCredentialsGrant(agent.config, { authorization_details: JSON.stringify(requested) });

    expect(response.scope).toBe(CUSTOMERS_READ);
    const claims = await verifyAccessToken(response.access_token);
    expectReadGrant(claims, "support-bot");
    expect(response.authorization_details).toEqual(claims.authorization_details);
  });

  it("narrows the grant to the locations asked for", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await agentSigningKey("support-bot")));
    // The demo's only approval-free use case has one action and one location: the narrowest request asks for none.
    const requested = [{ type: "agent_use_case", use_case: CUSTOMERS_READ, actions: ["read"], locations: [] }];

    const response = await client.clientCredentialsGrant(agent.config, { authorization_details: JSON.stringify(requested) });

    const granted = [{ type: "agent_use_case", use_case: CUSTOMERS_READ, actions: ["read"], locations: [], limits: { max_rows: 100 } }];
    expect(response.authorization_details).toEqual(granted);
    expect((await verifyAccessToken(response.access_token)).authorization_details).toEqual(granted);
  });

  it.each([
    { widening: "an action", detail: { actions: ["read", "delete"] }, named: '"delete"' },
    { widening: "a location", detail: { locations: ["https://crm.example.com/tables/orders"] }, named: "tables/orders" },
  ])("refuses $widening the use case does not allow (invalid_authorization_details)", async ({ detail, named }) => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await agentSigningKey("support-bot")));
    const requested = [{ type: "agent_use_case", use_case: CUSTOMERS_READ, ...detail }];

    const error = await refusal(client.clientCredentialsGrant(agent.config, { authorization_details: JSON.stringify(requested) }));

    expect(error).toMatchObject({ status: 400, error: "invalid_authorization_details" });
    expect(error.error_description).toContain(named);
  });
});

describe("refusals, as openid-client reports them", () => {
  it("answers invalid_scope (400) for a use case the policy does not define", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await agentSigningKey("support-bot")));

    const error = await refusal(client.clientCredentialsGrant(agent.config, { scope: "crm.customers.delete" }));

    expect(error).toMatchObject({ status: 400, error: "invalid_scope" });
    expect(error.error_description).toContain("crm.customers.delete");
    expect(await broker.requestLog(lastRequest(agent).requestId)).toMatchObject({ decision: "denied", reason: "unknown_use_case" });
  });

  it("answers approval_required (403) for a use case that needs a human, even when context and intent satisfy its conditions", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await agentSigningKey("support-bot")));

    const error = await refusal(
      client.clientCredentialsGrant(agent.config, {
        scope: CUSTOMERS_EXPORT,
        context: JSON.stringify({ ticket: "SUP-12" }),
        intent: "export the customers named on ticket SUP-12 for their data access request",
      }),
    );

    expect(error).toMatchObject({ status: 403, error: "approval_required" });
    expect(await broker.requestLog(lastRequest(agent).requestId)).toMatchObject({
      decision: "denied",
      reason: "approval_required",
      use_case: CUSTOMERS_EXPORT,
    });
  });

  it("answers access_denied (403) to a disabled agent, even for a use case its policy entry lists", async () => {
    const agent = await connect("retired-bot", client.PrivateKeyJwt(await agentSigningKey("retired-bot")));

    const error = await refusal(client.clientCredentialsGrant(agent.config, { scope: CUSTOMERS_READ }));

    expect(error).toMatchObject({ status: 403, error: "access_denied", error_description: "agent is disabled" });
    expect(await broker.requestLog(lastRequest(agent).requestId)).toMatchObject({ decision: "denied", reason: "agent_disabled" });
  });

  it("answers invalid_client (401) to a client assertion whose jti was already used", async () => {
    const jti = randomUUID();
    const pinJti: client.ModifyAssertionOptions = {
      [client.modifyAssertion]: (_header, payload) => {
        payload.jti = jti;
      },
    };
    const agent = await connect("support-bot", client.PrivateKeyJwt(await agentSigningKey("support-bot"), pinJti));
    await client.clientCredentialsGrant(agent.config, { scope: CUSTOMERS_READ });

    const error = await refusal(client.clientCredentialsGrant(agent.config, { scope: CUSTOMERS_READ }));

    expect(error).toMatchObject({ status: 401, error: "invalid_client", error_description: "client authentication failed" });
    expect(await broker.requestLog(lastRequest(agent).requestId)).toMatchObject({
      reason: "client_assertion_invalid",
      failure: "replayed",
    });
  });

  it("answers invalid_client (401) when the very same token request is sent again", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await agentSigningKey("support-bot")));
    await client.clientCredentialsGrant(agent.config, { scope: CUSTOMERS_READ });

    const requestId = randomUUID();
    const replay = await postToken(lastRequest(agent).body, requestId);

    expect(replay.status).toBe(401);
    expect(replay.headers.get("cache-control")).toBe("no-store");
    expect(await replay.json()).toEqual({ error: "invalid_client", error_description: "client authentication failed" });
    expect(await broker.requestLog(requestId)).toMatchObject({ reason: "client_assertion_invalid", failure: "replayed" });
  });

  it.each([
    { key: "a new key presenting the agent's kid", failure: "bad_signature", privateKey: () => strangerKey("support-bot-1") },
    { key: "another agent's registered key", failure: "unknown_key", privateKey: () => agentSigningKey("billing-agent") },
  ])("answers invalid_client (401) to an assertion signed with $key, and logs why", async ({ failure, privateKey }) => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await privateKey()));

    const error = await refusal(client.clientCredentialsGrant(agent.config, { scope: CUSTOMERS_READ }));

    // The wire stays generic (don't tell an attacker which part failed); the log names the failure.
    expect(error).toMatchObject({ status: 401, error: "invalid_client", error_description: "client authentication failed" });
    expect(await broker.requestLog(lastRequest(agent).requestId)).toMatchObject({ reason: "client_assertion_invalid", failure });
  });
});

describe("after a restart on the same storage", () => {
  let tokenBefore: string;
  let kidsBefore: string[];
  let usedRequest: URLSearchParams;

  beforeAll(async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await agentSigningKey("support-bot")));
    tokenBefore = (await client.clientCredentialsGrant(agent.config, { scope: CUSTOMERS_READ })).access_token;
    usedRequest = lastRequest(agent).body;
    kidsBefore = await publishedKids();
    await broker.restart();
  });

  it("publishes the same signing key: the development key lives in a Durable Object, not in memory", async () => {
    expect(await publishedKids()).toEqual(kidsBefore);
    const agent = await connect("support-bot", client.PrivateKeyJwt(await agentSigningKey("support-bot")));
    const { access_token } = await client.clientCredentialsGrant(agent.config, { scope: CUSTOMERS_READ });
    expect(kidsBefore).toContain(decodeProtectedHeader(access_token).kid);
  });

  it("still verifies a token issued before the restart, against a freshly fetched JWKS", async () => {
    const freshJwks = createRemoteJWKSet(new URL(`${broker.url}/.well-known/jwks.json`));
    expectReadGrant(await verifyAccessToken(tokenBefore, freshJwks), "support-bot");
  });

  it("still refuses a client assertion used before the restart: the replay ledger is durable", async () => {
    const replay = await postToken(usedRequest);

    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: "invalid_client" });
  });
});

function connect(agentId: AgentId, auth: client.ClientAuth): Promise<OpenIdAgent> {
  return connectAgent(broker.url, agentId, auth);
}

/** A well-formed ES256 key that no policy registers. */
async function strangerKey(kid: string): Promise<client.PrivateKey> {
  const { privateKey } = await generateKeyPair("ES256");
  return { key: privateKey, kid };
}

/** The agent's own self-signed assertion (Writ's client SDK), single use, for this broker's issuer. */
function freshAssertion(agentId: AgentId): Promise<string> {
  return signAgentAssertion({ privateJwk: agentPrivateJwk(agentId), agentId, audience: broker.url });
}

function refusal(request: Promise<unknown>): Promise<client.ResponseBodyError> {
  return rejectionOf(request, client.ResponseBodyError);
}

/** What a downstream service does (RFC 9068 §4): signature against the JWKS, typ, iss, aud, exp. */
async function verifyAccessToken(token: string, keySet = jwks): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, keySet, {
    typ: "at+jwt",
    issuer: broker.url,
    audience: CRM_API,
    algorithms: ACCESS_TOKEN_ALGORITHMS,
  });
  return payload;
}

function expectReadGrant(claims: JWTPayload, agentId: AgentId): void {
  expect(claims).toMatchObject({
    sub: agentId,
    client_id: agentId,
    scope: CUSTOMERS_READ,
    jti: expect.any(String),
    iat: expect.any(Number),
    exp: expect.any(Number),
    authorization_details: [
      { type: "agent_use_case", use_case: CUSTOMERS_READ, actions: ["read"], locations: [CUSTOMERS_TABLE], limits: { max_rows: 100 } },
    ],
  });
  expect(Number(claims.exp) - Number(claims.iat)).toBeLessThanOrEqual(DEFAULT_TTL_SECONDS);
}

async function publishedKids(): Promise<string[]> {
  const { keys } = (await (await fetch(`${broker.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
  return keys.map((key) => String(key.kid)).sort();
}

function postToken(form: URLSearchParams, requestId: string = randomUUID()): Promise<Response> {
  return fetch(`${broker.url}/token`, { method: "POST", body: form, headers: { "cf-ray": requestId } });
}
