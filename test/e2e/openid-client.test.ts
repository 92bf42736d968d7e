/**
 * The real broker (the bundle `npm run build` ships, run by workerd) driven by openid-client, an OAuth client
 * nobody here wrote: if Writ only worked with its own client, these tests would say so. Access tokens are
 * checked the way a downstream service checks them, with jose against the published JWKS (RFC 9068 §4).
 */
import { randomUUID } from "node:crypto";
import { createRemoteJWKSet, decodeProtectedHeader, generateKeyPair, importJWK, type JWK, type JWTPayload, jwtVerify } from "jose";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signAgentAssertion } from "../../client/index.ts";
import { DEMO_KEYS, type DemoJwk } from "./demo-keys.ts";
import { type Broker, startBroker } from "./start-broker.ts";

const READ = "crm.customers.read";
const EXPORT = "crm.customers.export";
const CRM = "https://crm.example.com";
const CUSTOMERS_TABLE = "https://crm.example.com/tables/customers";
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
/** What a downstream service allow-lists: the algorithms Writ can sign with (SIGNING_ALG). */
const ACCESS_TOKEN_ALGORITHMS = ["ES256", "EdDSA"];
const DEFAULT_TTL_SECONDS = 300;

/** One request openid-client made, as the broker received it. `requestId` is the broker log's `request_id`. */
type SentRequest = { requestId: string; url: string; body: URLSearchParams };
type Agent = { config: client.Configuration; sent: SentRequest[] };

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
    const agent = await connect("support-bot", client.PrivateKeyJwt(await demoPrivateKey("support-bot")));

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
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining([READ, EXPORT]));
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
  it.each([
    { agentId: "support-bot", alg: "ES256" },
    { agentId: "billing-agent", alg: "Ed25519" },
  ])("issues an RFC 9068 access token to $agentId, whose assertion openid-client signs with $alg", async ({ agentId, alg }) => {
    const agent = await connect(agentId, client.PrivateKeyJwt(await demoPrivateKey(agentId)));

    const response = await client.clientCredentialsGrant(agent.config, { scope: READ });

    const assertion = lastRequest(agent).body.get("client_assertion") ?? "";
    expect(decodeProtectedHeader(assertion).alg).toBe(alg);
    expect(response).toMatchObject({ token_type: "bearer", scope: READ });
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
      scope: READ,
    });

    expect(lastRequest(agent).body.has("client_assertion")).toBe(false);
    expect(response).toMatchObject({ token_type: "bearer", issued_token_type: ACCESS_TOKEN_TYPE, scope: READ });
    expectReadGrant(await verifyAccessToken(response.access_token), "support-bot");
  });

  it("exchanges a fresh agent assertion when openid-client also authenticates with private_key_jwt", async () => {
    const agent = await connect("billing-agent", client.PrivateKeyJwt(await demoPrivateKey("billing-agent")));

    const response = await client.genericGrantRequest(agent.config, TOKEN_EXCHANGE, {
      subject_token: await freshAssertion("billing-agent"),
      subject_token_type: JWT_TOKEN_TYPE,
      scope: READ,
    });

    expect(lastRequest(agent).body.has("client_assertion")).toBe(true);
    expect(response).toMatchObject({ token_type: "bearer", issued_token_type: ACCESS_TOKEN_TYPE, scope: READ });
    expectReadGrant(await verifyAccessToken(response.access_token), "billing-agent");
  });

  it("refuses a subject token about another agent than the authenticated client (invalid_grant)", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await demoPrivateKey("support-bot")));

    const error = await refusal(
      client.genericGrantRequest(agent.config, TOKEN_EXCHANGE, {
        subject_token: await freshAssertion("billing-agent"),
        subject_token_type: JWT_TOKEN_TYPE,
        scope: READ,
      }),
    );

    expect(error).toMatchObject({ status: 400, error: "invalid_grant" });
    expect(await broker.requestLog(lastRequest(agent).requestId)).toMatchObject({ decision: "denied", reason: "subject_client_mismatch" });
  });
});

describe("authorization_details (RFC 9396)", () => {
  it("grants the use case named only in authorization_details, and says what it granted", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await demoPrivateKey("support-bot")));
    const requested = [{ type: "agent_use_case", use_case: READ, actions: ["read"] }];

    const response = await client.clientCredentialsGrant(agent.config, { authorization_details: JSON.stringify(requested) });

    expect(response.scope).toBe(READ);
    const claims = await verifyAccessToken(response.access_token);
    expectReadGrant(claims, "support-bot");
    expect(response.authorization_details).toEqual(claims.authorization_details);
  });

  it("narrows the grant to the locations asked for", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await demoPrivateKey("support-bot")));
    // The demo's only approval-free use case has one action and one location: the narrowest request asks for none.
    const requested = [{ type: "agent_use_case", use_case: READ, actions: ["read"], locations: [] }];

    const response = await client.clientCredentialsGrant(agent.config, { authorization_details: JSON.stringify(requested) });

    const granted = [{ type: "agent_use_case", use_case: READ, actions: ["read"], locations: [], limits: { max_rows: 100 } }];
    expect(response.authorization_details).toEqual(granted);
    expect((await verifyAccessToken(response.access_token)).authorization_details).toEqual(granted);
  });

  it.each([
    { widening: "an action", detail: { actions: ["read", "delete"] }, named: '"delete"' },
    { widening: "a location", detail: { locations: ["https://crm.example.com/tables/orders"] }, named: "tables/orders" },
  ])("refuses $widening the use case does not allow (invalid_authorization_details)", async ({ detail, named }) => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await demoPrivateKey("support-bot")));
    const requested = [{ type: "agent_use_case", use_case: READ, ...detail }];

    const error = await refusal(client.clientCredentialsGrant(agent.config, { authorization_details: JSON.stringify(requested) }));

    expect(error).toMatchObject({ status: 400, error: "invalid_authorization_details" });
    expect(error.error_description).toContain(named);
  });
});

describe("refusals, as openid-client reports them", () => {
  it("answers invalid_scope (400) for a use case the policy does not define", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await demoPrivateKey("support-bot")));

    const error = await refusal(client.clientCredentialsGrant(agent.config, { scope: "crm.customers.delete" }));

    expect(error).toMatchObject({ status: 400, error: "invalid_scope" });
    expect(error.error_description).toContain("crm.customers.delete");
    expect(await broker.requestLog(lastRequest(agent).requestId)).toMatchObject({ decision: "denied", reason: "unknown_use_case" });
  });

  it("answers approval_required (403) for a use case that needs a human, even when context and intent satisfy its conditions", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await demoPrivateKey("support-bot")));

    const error = await refusal(
      client.clientCredentialsGrant(agent.config, {
        scope: EXPORT,
        context: JSON.stringify({ ticket: "SUP-12" }),
        intent: "export the customers named on ticket SUP-12 for their data access request",
      }),
    );

    expect(error).toMatchObject({ status: 403, error: "approval_required" });
    expect(await broker.requestLog(lastRequest(agent).requestId)).toMatchObject({
      decision: "denied",
      reason: "approval_required",
      use_case: EXPORT,
    });
  });

  it("answers access_denied (403) to a disabled agent, even for a use case its policy entry lists", async () => {
    const agent = await connect("retired-bot", client.PrivateKeyJwt(await demoPrivateKey("retired-bot")));

    const error = await refusal(client.clientCredentialsGrant(agent.config, { scope: READ }));

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
    const agent = await connect("support-bot", client.PrivateKeyJwt(await demoPrivateKey("support-bot"), pinJti));
    await client.clientCredentialsGrant(agent.config, { scope: READ });

    const error = await refusal(client.clientCredentialsGrant(agent.config, { scope: READ }));

    expect(error).toMatchObject({ status: 401, error: "invalid_client", error_description: "client authentication failed" });
    expect(await broker.requestLog(lastRequest(agent).requestId)).toMatchObject({
      reason: "client_assertion_invalid",
      failure: "replayed",
    });
  });

  it("answers invalid_client (401) when the very same token request is sent again", async () => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await demoPrivateKey("support-bot")));
    await client.clientCredentialsGrant(agent.config, { scope: READ });

    const requestId = randomUUID();
    const replay = await postToken(lastRequest(agent).body, requestId);

    expect(replay.status).toBe(401);
    expect(replay.headers.get("cache-control")).toBe("no-store");
    expect(await replay.json()).toEqual({ error: "invalid_client", error_description: "client authentication failed" });
    expect(await broker.requestLog(requestId)).toMatchObject({ reason: "client_assertion_invalid", failure: "replayed" });
  });

  it.each([
    { key: "a new key presenting the agent's kid", failure: "bad_signature", privateKey: () => strangerKey("support-bot-1") },
    { key: "another agent's registered key", failure: "unknown_key", privateKey: () => demoPrivateKey("billing-agent") },
  ])("answers invalid_client (401) to an assertion signed with $key, and logs why", async ({ failure, privateKey }) => {
    const agent = await connect("support-bot", client.PrivateKeyJwt(await privateKey()));

    const error = await refusal(client.clientCredentialsGrant(agent.config, { scope: READ }));

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
    const agent = await connect("support-bot", client.PrivateKeyJwt(await demoPrivateKey("support-bot")));
    tokenBefore = (await client.clientCredentialsGrant(agent.config, { scope: READ })).access_token;
    usedRequest = lastRequest(agent).body;
    kidsBefore = await publishedKids();
    await broker.restart();
  });

  it("publishes the same signing key: the development key lives in a Durable Object, not in memory", async () => {
    expect(await publishedKids()).toEqual(kidsBefore);
    const agent = await connect("support-bot", client.PrivateKeyJwt(await demoPrivateKey("support-bot")));
    const { access_token } = await client.clientCredentialsGrant(agent.config, { scope: READ });
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

/** openid-client set up for one agent by discovery, with every request recorded and tagged with a request id. */
async function connect(agentId: string, auth: client.ClientAuth): Promise<Agent> {
  const sent: SentRequest[] = [];
  // Cloudflare's edge sets cf-ray in production; locally it lets a test find its request in the broker's log.
  const recordingFetch: client.CustomFetch = (url, options) => {
    const requestId = randomUUID();
    const body = typeof options.body === "string" || options.body instanceof URLSearchParams ? options.body : undefined;
    sent.push({ requestId, url, body: new URLSearchParams(body) });
    return fetch(url, { ...options, headers: { ...options.headers, "cf-ray": requestId } });
  };
  const config = await client.discovery(new URL(broker.url), agentId, undefined, auth, {
    algorithm: "oauth2",
    execute: [client.allowInsecureRequests],
    [client.customFetch]: recordingFetch,
  });
  return { config, sent };
}

function lastRequest(agent: Agent): SentRequest {
  const request = agent.sent.at(-1);
  if (!request) throw new TypeError("openid-client has sent no request yet");
  return request;
}

function demoJwk(agentId: string): DemoJwk {
  const jwk = DEMO_KEYS[agentId];
  if (!jwk) throw new TypeError(`no demo key for ${agentId} in policy/demo-agent-keys.json`);
  return jwk;
}

async function demoPrivateKey(agentId: string): Promise<client.PrivateKey> {
  const jwk = demoJwk(agentId);
  const key = await importJWK(jwk, jwk.alg);
  if (!(key instanceof CryptoKey)) throw new TypeError(`demo key of ${agentId} is not an asymmetric key`);
  return { key, kid: jwk.kid };
}

/** A well-formed ES256 key that no policy registers. */
async function strangerKey(kid: string): Promise<client.PrivateKey> {
  const { privateKey } = await generateKeyPair("ES256");
  return { key: privateKey, kid };
}

/** The agent's own self-signed assertion (Writ's client SDK), single use, for the issuer. */
function freshAssertion(agentId: string): Promise<string> {
  return signAgentAssertion({ privateJwk: demoJwk(agentId), agentId, audience: broker.url });
}

async function refusal(request: Promise<unknown>): Promise<client.ResponseBodyError> {
  const error = await request.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(client.ResponseBodyError);
  return error as client.ResponseBodyError;
}

/** What a downstream service does (RFC 9068 §4): signature against the JWKS, typ, iss, aud, exp. */
async function verifyAccessToken(token: string, keySet = jwks): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, keySet, {
    typ: "at+jwt",
    issuer: broker.url,
    audience: CRM,
    algorithms: ACCESS_TOKEN_ALGORITHMS,
  });
  return payload;
}

function expectReadGrant(claims: JWTPayload, agentId: string): void {
  expect(claims).toMatchObject({
    sub: agentId,
    client_id: agentId,
    scope: READ,
    jti: expect.any(String),
    iat: expect.any(Number),
    exp: expect.any(Number),
    authorization_details: [
      { type: "agent_use_case", use_case: READ, actions: ["read"], locations: [CUSTOMERS_TABLE], limits: { max_rows: 100 } },
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
