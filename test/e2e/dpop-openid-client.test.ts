/**
 * DPoP (RFC 9449) end to end with a client nobody here wrote: openid-client gets DPoP-bound tokens from the real
 * broker and calls a real service (test/e2e/dpop-service: Writ's Hono middleware, its verifier, and the Durable
 * Object replay store) with its own proofs. The attacker's side: the captured token as Bearer, the captured request
 * replayed (also after the service restarts, which a per-isolate memory would forget), a proof replayed at /token.
 */
import { randomUUID } from "node:crypto";
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK } from "jose";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signAgentAssertion } from "../../client/index.ts";
import { DPOP_ALGORITHMS } from "../../schemas/dpop.ts";
import { type Broker, type LocalWorker, startBroker, startLocalWorker } from "../../scripts/local-broker.ts";
import { type AgentId, agentPrivateJwk, agentSigningKey } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { JWT_TOKEN_TYPE, TOKEN_EXCHANGE } from "../support/oauth.ts";

let broker: Broker;
let service: LocalWorker;

beforeAll(async () => {
  broker = await startBroker();
  service = await startLocalWorker({
    configPath: "test/e2e/dpop-service/wrangler.toml",
    keepRequestLogs: false,
    bindings: () => ({ WRIT_ISSUER: broker.url, AUDIENCE: CRM_API }),
  });
});

afterAll(async () => {
  await service?.dispose();
  await broker?.dispose();
});

type Sent = { url: string; method: string; headers: Headers; body: string | undefined };
type Agent = { config: client.Configuration; sent: Sent[] };

/** openid-client discovering the broker, with every request it makes recorded (headers included: the DPoP proofs). */
async function connect(agentId: AgentId): Promise<Agent> {
  const sent: Sent[] = [];
  const recordingFetch: client.CustomFetch = (url, options) => {
    const headers = new Headers(options.headers);
    headers.set("cf-ray", randomUUID());
    const body =
      typeof options.body === "string" ? options.body : options.body instanceof URLSearchParams ? options.body.toString() : undefined;
    sent.push({ url, method: options.method ?? "GET", headers, body });
    return fetch(url, { ...options, headers });
  };
  const config = await client.discovery(new URL(broker.url), agentId, undefined, client.PrivateKeyJwt(await agentSigningKey(agentId)), {
    algorithm: "oauth2",
    execute: [client.allowInsecureRequests],
    [client.customFetch]: recordingFetch,
  });
  return { config, sent };
}

const lastTo = (agent: Agent, url: string): Sent => {
  const request = agent.sent.findLast((s) => s.url.startsWith(url));
  if (!request) throw new Error(`openid-client sent nothing to ${url}`);
  return request;
};

async function thumbprintOf(keyPair: CryptoKeyPair): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(keyPair.publicKey), "sha256");
}

describe("openid-client with DPoP against the broker", () => {
  it("discovers dpop_signing_alg_values_supported", async () => {
    const agent = await connect("support-bot");
    expect(agent.config.serverMetadata().dpop_signing_alg_values_supported).toEqual([...DPOP_ALGORITHMS]);
  });

  // openid-client names Ed25519 proofs by the fully-specified alg "Ed25519", which the broker accepts beside "EdDSA".
  it.each([
    ["ES256", "ES256"],
    ["EdDSA", "Ed25519"],
  ])("gets a client_credentials token bound to its %s DPoP key (proof alg %s)", async (keyAlg, alg) => {
    const agent = await connect("support-bot");
    const keyPair = await client.randomDPoPKeyPair(keyAlg);
    const response = await client.clientCredentialsGrant(
      agent.config,
      { scope: CUSTOMERS_READ },
      { DPoP: client.getDPoPHandle(agent.config, keyPair) },
    );

    expect(response.token_type).toBe("dpop");
    expect(decodeJwt(response.access_token).cnf).toEqual({ jkt: await thumbprintOf(keyPair) });
    const proof = lastTo(agent, `${broker.url}/token`).headers.get("dpop") ?? "";
    expect(decodeProtectedHeader(proof)).toMatchObject({ typ: "dpop+jwt", alg });
  });

  it("gets a token exchange token bound to its DPoP key", async () => {
    const agent = await connect("billing-agent");
    const keyPair = await client.randomDPoPKeyPair("ES256");
    const subject = await signAgentAssertion({ agentId: "billing-agent", audience: broker.url, key: agentPrivateJwk("billing-agent") });
    const response = await client.genericGrantRequest(
      agent.config,
      TOKEN_EXCHANGE,
      { subject_token: subject, subject_token_type: JWT_TOKEN_TYPE, scope: CUSTOMERS_READ },
      { DPoP: client.getDPoPHandle(agent.config, keyPair) },
    );
    expect(response.token_type).toBe("dpop");
    expect(decodeJwt(response.access_token).cnf).toEqual({ jkt: await thumbprintOf(keyPair) });
  });

  it("refuses a captured token-request proof replayed with a fresh client assertion (400 invalid_dpop_proof)", async () => {
    const agent = await connect("support-bot");
    const dpop = client.getDPoPHandle(agent.config, await client.randomDPoPKeyPair("ES256"));
    await client.clientCredentialsGrant(agent.config, { scope: CUSTOMERS_READ }, { DPoP: dpop });
    const captured = lastTo(agent, `${broker.url}/token`).headers.get("dpop") ?? "";

    const assertion = await signAgentAssertion({ agentId: "support-bot", audience: broker.url, key: agentPrivateJwk("support-bot") });
    const replay = await fetch(`${broker.url}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", DPoP: captured },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        scope: CUSTOMERS_READ,
        client_id: "support-bot",
        client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion: assertion,
      }),
    });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toEqual({
      error: "invalid_dpop_proof",
      error_description: "DPoP proof already used: make a new proof (new jti) for each request",
    });
  });
});

describe("openid-client calling a Writ-protected service with its DPoP-bound token", () => {
  async function boundToken() {
    const agent = await connect("support-bot");
    const keyPair = await client.randomDPoPKeyPair("ES256");
    const dpop = client.getDPoPHandle(agent.config, keyPair);
    const { access_token } = await client.clientCredentialsGrant(
      agent.config,
      { scope: CUSTOMERS_READ, resource: CRM_API },
      { DPoP: dpop },
    );
    return { agent, dpop, keyPair, token: access_token };
  }

  it("is served with a proof per call, and the captured request replayed is refused, even after the service restarts", async () => {
    const { agent, dpop, keyPair, token } = await boundToken();
    const url = new URL(`${service.url}/customers?limit=5`);
    const served = await client.fetchProtectedResource(agent.config, token, url, "GET", undefined, undefined, { DPoP: dpop });
    expect(served.status).toBe(200);
    expect(await served.json()).toEqual({ agent: "support-bot", jkt: await thumbprintOf(keyPair) });

    const captured = lastTo(agent, service.url);
    expect(captured.headers.get("authorization")).toBe(`DPoP ${token}`);
    const proof = captured.headers.get("dpop") ?? "";
    expect(decodeJwt(proof)).toMatchObject({ htm: "GET", htu: `${service.url}/customers`, ath: expect.any(String) });

    const replay = () => fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    const refused = await replay();
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toContain('DPoP realm="https://crm.example.com"');
    expect(refused.headers.get("www-authenticate")).toContain('error="invalid_dpop_proof"');
    expect(await refused.json()).toEqual({ error: "invalid_dpop_proof", error_description: "the DPoP proof was already used" });

    // A new isolate has forgotten everything in memory; the Durable Object has not.
    await service.restart();
    expect((await replay()).status).toBe(401);
    // The agent's own next call, with a new proof, is served.
    expect((await client.fetchProtectedResource(agent.config, token, url, "GET", undefined, undefined, { DPoP: dpop })).status).toBe(200);
  });

  it("refuses the token stolen without its key: as Bearer, and with a proof signed by the thief's key", async () => {
    const { token } = await boundToken();
    const url = new URL(`${service.url}/customers`);
    const asBearer = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(asBearer.status).toBe(401);
    expect(await asBearer.json()).toMatchObject({ error: "invalid_token" });

    const thief = await connect("support-bot");
    const thiefDpop = client.getDPoPHandle(thief.config, await client.randomDPoPKeyPair("ES256"));
    const withOwnKey = await client
      .fetchProtectedResource(thief.config, token, url, "GET", undefined, undefined, { DPoP: thiefDpop })
      .catch((error: unknown) => error);
    // openid-client surfaces a 401 with a DPoP challenge as a WWWAuthenticateChallengeError.
    const status = withOwnKey instanceof Response ? withOwnKey.status : (withOwnKey as { status?: number }).status;
    expect(status).toBe(401);
  });

  it("refuses a proof for another method or URL", async () => {
    const { agent, token } = await boundToken();
    const captured = async (method: string, path: string) => {
      await client
        .fetchProtectedResource(agent.config, token, new URL(`${service.url}${path}`), method, undefined, undefined, {
          DPoP: client.getDPoPHandle(agent.config, await client.randomDPoPKeyPair("ES256")),
        })
        .catch(() => undefined);
      return lastTo(agent, `${service.url}${path}`).headers.get("dpop") ?? "";
    };
    // A proof openid-client made for POST /customers, and one for GET /orders, each sent with GET /customers.
    for (const proof of [await captured("POST", "/customers"), await captured("GET", "/orders")]) {
      const answer = await fetch(`${service.url}/customers`, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
      expect(answer.status).toBe(401);
    }
  });
});

describe("the Durable Object replay store", () => {
  const use = (key: string, expiresAt: number) =>
    fetch(`${service.url}/replay-store`, { method: "POST", body: JSON.stringify({ key, expiresAt }) }).then(
      async (r) => ((await r.json()) as { firstUse: boolean }).firstUse,
    );

  it("says first use exactly once to concurrent callers with the same key", async () => {
    const key = `jkt-${randomUUID()}:race`;
    const answers = await Promise.all(Array.from({ length: 10 }, () => use(key, Date.now() + 60_000)));
    expect(answers.filter(Boolean)).toHaveLength(1);
  });

  it("forgets a key once it expired", async () => {
    const key = `jkt-${randomUUID()}:expired`;
    expect(await use(key, Date.now() - 1)).toBe(true);
    expect(await use(key, Date.now() + 60_000)).toBe(true);
    expect(await use(key, Date.now() + 60_000)).toBe(false);
  });
});
