/**
 * Federated workload identity end to end (docs/workload-identity.md): a real broker whose policy trusts a workload
 * issuer running here in Node (a real HTTP server publishing a JWKS and minting GitHub-Actions-, Kubernetes- and
 * SPIFFE-shaped tokens), and openid-client, an OAuth client nobody here wrote, exchanging each kind for a Writ token
 * (RFC 8693). Also the issuer's bad days: an unknown kid (one refetch per cooldown), an issuer that never answers,
 * one that refuses connections, and one that serves garbage: each a quick, clear 503, never a hang.
 * Nothing here reaches the internet.
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRemoteJWKSet, decodeJwt, exportJWK, generateKeyPair, type JWK, type JWTPayload, jwtVerify, SignJWT } from "jose";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEV_WORKLOAD_AUDIENCE,
  DEV_WORKLOAD_ISSUER,
  devWorkloadClaims,
  devWorkloadJwks,
} from "../../core/identity/federation-dev-issuer.ts";
import { type Broker, startBroker } from "../../scripts/local-broker.ts";
import { PROJECT_ROOT } from "../../scripts/policy-path.ts";
import { CRM_API, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { JWT_TOKEN_TYPE, TOKEN_EXCHANGE } from "../support/oauth.ts";
import { connectAgent, lastRequest } from "../support/openid-client.ts";
import { rejectionOf } from "../support/rejection.ts";

const AUDIENCE = "writ-e2e";
const ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token";

type SigningKey = { key: CryptoKey; jwk: JWK & { kid: string } };

/** A workload issuer as a platform runs one: JWKS over HTTP, and a misbehaving mode per path. */
class LocalIssuer {
  readonly server: Server;
  published: SigningKey[] = [];
  jwksFetches = 0;
  /** A second issuer's key set, for the rotation test: its first fetch happens inside that test. */
  rotating: SigningKey[] = [];
  rotatingFetches = 0;
  readonly #held: ServerResponse[] = [];

  constructor() {
    this.server = createServer((request, response) => this.#answer(request, response));
  }

  async listen(): Promise<void> {
    await new Promise<void>((done) => this.server.listen(0, "127.0.0.1", done));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const response of this.#held) response.destroy();
    this.server.closeAllConnections();
    await new Promise((done) => this.server.close(done));
  }

  #answer(request: IncomingMessage, response: ServerResponse): void {
    if (request.url === "/jwks") {
      this.jwksFetches++;
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: this.published.map((k) => k.jwk) }));
    } else if (request.url === "/rotating/jwks") {
      this.rotatingFetches++;
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: this.rotating.map((k) => k.jwk) }));
    } else if (request.url === "/hang/jwks") {
      // Accepts the request and never answers: the broker's deadline must end it.
      this.#held.push(response);
    } else if (request.url === "/garbage/jwks") {
      response.writeHead(200, { "content-type": "text/html" }).end("<html>maintenance</html>");
    } else {
      response.writeHead(404).end();
    }
  }
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  return { key: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

let issuer: LocalIssuer;
let keyA: SigningKey;
let keyB: SigningKey;
let broker: Broker;
let closedPortUrl: string;

beforeAll(async () => {
  issuer = new LocalIssuer();
  await issuer.listen();
  [keyA, keyB] = await Promise.all([signingKey("a"), signingKey("b")]);
  issuer.published = [keyA];
  closedPortUrl = await closedPort();

  const demo = JSON.parse(readFileSync(join(PROJECT_ROOT, "policy/demo.policy.json"), "utf8"));
  const trusted = (name: string, jwksUri: string) => ({
    issuer: `${issuer.url}/${name}`,
    jwks_uri: jwksUri,
    audience: AUDIENCE,
    algorithms: ["RS256"],
    rules: [{ agent: "support-bot", claims: { sub: "anyone" } }],
  });
  const policy = {
    ...demo,
    // The dev workload issuer as the demo policy trusts it (written out here, so this test does not depend on the demo file).
    trusted_issuers: [
      {
        issuer: DEV_WORKLOAD_ISSUER,
        jwks: devWorkloadJwks(),
        audience: DEV_WORKLOAD_AUDIENCE,
        algorithms: ["RS256"],
        rules: [{ agent: "support-bot", github: { repository: "acme/support-bot", ref: "refs/heads/main", workflow: "deploy" } }],
      },
      {
        issuer: issuer.url,
        jwks_uri: `${issuer.url}/jwks`,
        audience: AUDIENCE,
        algorithms: ["RS256"],
        max_token_age_seconds: 600,
        rules: [
          { agent: "support-bot", github: { repository: "acme/support-bot", ref: "refs/heads/main" } },
          { agent: "billing-agent", kubernetes: { namespace: "billing", service_account: "billing-agent" } },
          { agent: "support-bot", spiffe_id: "spiffe://acme.example/ns/support/sa/support-bot" },
        ],
      },
      trusted("hang", `${issuer.url}/hang/jwks`),
      trusted("garbage", `${issuer.url}/garbage/jwks`),
      trusted("closed", `${closedPortUrl}/jwks`),
      trusted("rotating", `${issuer.url}/rotating/jwks`),
    ],
  };
  const policyPath = join(tmpdir(), `writ-workload-${process.pid}.policy.json`);
  await writeFile(policyPath, JSON.stringify(policy));
  broker = await startBroker({ alias: { "writ-policy": policyPath } });
});

afterAll(async () => {
  await broker?.dispose();
  await issuer?.close();
});

/** A free port nobody listens on: connections to it are refused. */
async function closedPort(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, "127.0.0.1", done));
  const { port } = probe.address() as AddressInfo;
  await new Promise((done) => probe.close(done));
  return `http://127.0.0.1:${port}`;
}

/** What each platform would put in its token, issued by the local issuer. */
function workloadClaims(kind: "github" | "kubernetes" | "spiffe", subject: string): JWTPayload {
  const claims = devWorkloadClaims(kind, subject, AUDIENCE, new Date());
  return { ...claims, iss: issuer.url };
}

function sign(claims: JWTPayload, key = keyA, iss = claims.iss): Promise<string> {
  return new SignJWT({ ...claims, iss }).setProtectedHeader({ alg: "RS256", kid: key.jwk.kid, typ: "JWT" }).sign(key.key);
}

/** openid-client as the workload's client: public (auth method none), client_id the agent it expects to become. */
async function workloadClient(agentId: string) {
  return connectAgent(broker.url, agentId, client.None());
}

async function exchange(agentId: string, subjectToken: string, subjectTokenType = JWT_TOKEN_TYPE) {
  const agent = await workloadClient(agentId);
  const request = client.genericGrantRequest(agent.config, TOKEN_EXCHANGE, {
    subject_token: subjectToken,
    subject_token_type: subjectTokenType,
    scope: CUSTOMERS_READ,
  });
  return { agent, request };
}

async function verifyWritToken(token: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${broker.url}/.well-known/jwks.json`)), {
    issuer: broker.url,
    audience: CRM_API,
    typ: "at+jwt",
  });
  return payload;
}

describe("exchanging workload tokens with openid-client (RFC 8693, subject_token from a trusted issuer)", () => {
  it.each([
    ["github", "acme/support-bot", "support-bot", JWT_TOKEN_TYPE],
    ["github", "acme/support-bot", "support-bot", ID_TOKEN_TYPE],
    ["kubernetes", "billing/billing-agent", "billing-agent", JWT_TOKEN_TYPE],
    ["spiffe", "spiffe://acme.example/ns/support/sa/support-bot", "support-bot", JWT_TOKEN_TYPE],
  ] as const)("exchanges a %s token (%s) for %s's Writ token, as %s", async (kind, subject, agentId, type) => {
    const token = await sign(workloadClaims(kind, subject));
    const { request } = await exchange(agentId, token, type);
    const response = await request;

    const claims = await verifyWritToken(response.access_token);
    expect(claims).toMatchObject({
      sub: agentId,
      scope: CUSTOMERS_READ,
      agent_auth: { method: "workload_identity", iss: issuer.url, sub: decodeJwt(token).sub },
    });
  });

  it("fetched the issuer's JWKS once for all of them (cached per isolate)", () => {
    expect(issuer.jwksFetches).toBe(1);
  });

  it("exchanges a token the dev broker's own dev workload issuer minted (the demo path)", async () => {
    const minted = await fetch(`${broker.url}/dev/workload-issuer/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ kind: "github", subject: "acme/support-bot" }),
    });
    const { token } = (await minted.json()) as { token: string };
    const { request } = await exchange("support-bot", token);
    const claims = await verifyWritToken((await request).access_token);
    expect(claims).toMatchObject({ sub: "support-bot", agent_auth: { iss: DEV_WORKLOAD_ISSUER } });
  });
});

describe("the issuer's keys", () => {
  it("refuses a kid the issuer has just started publishing until the refetch cooldown has passed, fetching nothing meanwhile", async () => {
    const rotating = `${issuer.url}/rotating`;
    const claims = { ...workloadClaims("github", "acme/x"), sub: "anyone" };
    issuer.rotating = [keyA];
    const first = await exchange("support-bot", await sign(claims, keyA, rotating));
    await first.request;
    expect(issuer.rotatingFetches).toBe(1);

    // The issuer rotates in key b; a token under it comes right after (well within the 30 s cooldown).
    issuer.rotating = [keyA, keyB];
    const { agent, request } = await exchange("support-bot", await sign(claims, keyB, rotating));

    const error = await rejectionOf(request, client.ResponseBodyError);
    expect(error).toMatchObject({ status: 400, error: "invalid_grant", error_description: "subject_token is invalid" });
    expect(await broker.requestLog(lastRequest(agent).requestId)).toMatchObject({
      reason: "subject_token_invalid",
      failure: "unknown_key",
    });
    expect(issuer.rotatingFetches).toBe(1);
  });

  it.each([
    ["never answers (the fetch deadline ends it)", "hang"],
    ["refuses connections", "closed"],
    ["serves something that is not a key set", "garbage"],
  ])("answers 503 temporarily_unavailable, not a hang, when the issuer %s; then fails fast", async (_, name) => {
    const token = await sign({ ...workloadClaims("github", "acme/x"), sub: "anyone" }, keyA, `${issuer.url}/${name}`);
    // openid-client reports a 503 only as an unexpected status; the wire body is read as any client would.
    for (let attempt = 0; attempt < 2; attempt++) {
      const requestId = crypto.randomUUID();
      const response = await fetch(`${broker.url}/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "cf-ray": requestId },
        body: new URLSearchParams({
          grant_type: TOKEN_EXCHANGE,
          subject_token: token,
          subject_token_type: JWT_TOKEN_TYPE,
          scope: CUSTOMERS_READ,
        }),
      });
      expect({ status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() }).toEqual({
        status: 503,
        retryAfter: "5",
        body: {
          error: "temporarily_unavailable",
          error_description: "the subject_token's issuer could not be reached to verify it; try again later",
        },
      });
      expect(await broker.requestLog(requestId)).toMatchObject({ reason: "issuer_unreachable", decision: "denied" });
    }
  });
});
