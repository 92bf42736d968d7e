/**
 * Writ as the authorization server of an MCP server, end to end: the example customers MCP server
 * (examples/mcp-customers) in workerd on a local D1, the broker in workerd, and the official MCP SDK client with
 * Writ's fetch (examples/mcp-agent). Then the attacker's side over raw HTTP, and the SDK's own private_key_jwt provider.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateKeyJwtProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writMcpFetch } from "../../client/mcp.ts";
import type { AgentKey } from "../../client/types.ts";
import { WritClient } from "../../client/writ-client.ts";
import { type AgentStep, runAgent } from "../../examples/mcp-agent/agent.ts";
import { approveFromDevOutbox } from "../../examples/mcp-agent/dev-approve.ts";
import { DEV_VARS } from "../../scripts/dev-vars.ts";
import { type LocalWorker, startLocalWorker } from "../../scripts/local-broker.ts";
import { PROJECT_ROOT } from "../../scripts/policy-path.ts";
import { DPOP_ALGORITHMS } from "../../verifier/index.ts";

/** The MCP server's origin in the demo policy; the test's servers listen elsewhere, so the policy is rewritten. */
const DEMO_MCP_ORIGIN = "http://localhost:8788";
const MCP_SECRET = "test-mcp-service-secret";
const CRM_SECRET = JSON.parse(DEV_VARS.SERVICE_CREDENTIALS)["https://crm.example.com"] as string;
const keys = JSON.parse(readFileSync(join(PROJECT_ROOT, "policy/demo-agent-keys.json"), "utf8")) as Record<string, AgentKey>;

let broker: LocalWorker;
let mcp: LocalWorker;
let mcpUrl: string;
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "writ-mcp-"));
  let issuer = "http://127.0.0.1:9"; // replaced before the MCP server's real start, below
  // Each needs the other's address: the MCP server starts first, then the broker with a policy naming it, then
  // the MCP server restarts (same port, same D1) with the broker's address.
  mcp = await startLocalWorker({
    configPath: "examples/mcp-customers/wrangler.toml",
    bindings: (url) => ({ WRIT_ISSUER: issuer, MCP_RESOURCE: `${url}/mcp`, WRIT_SERVICE_SECRET: MCP_SECRET }),
  });
  mcpUrl = `${mcp.url}/mcp`;
  const policyPath = join(scratch, "mcp.policy.json");
  const policy = JSON.parse(readFileSync(join(PROJECT_ROOT, "policy/demo.policy.json"), "utf8").replaceAll(DEMO_MCP_ORIGIN, mcp.url));
  // Budgets are per agent: the attack tests (billing-agent) and the SDK provider tests (report-bot) get their own, so
  // the agent script's flood spends support-bot's alone, whatever order the tests run in.
  for (const useCase of policy.use_cases) if (useCase.id === "customers.query") useCase.agents.push("billing-agent", "report-bot");
  writeFileSync(policyPath, JSON.stringify(policy));
  broker = await startLocalWorker({
    alias: { "writ-policy": policyPath },
    omitBindings: ["SIGNING_KEYS"],
    bindings: (url) => ({
      ...DEV_VARS,
      ISSUER: url,
      SERVICE_CREDENTIALS: JSON.stringify({ ...JSON.parse(DEV_VARS.SERVICE_CREDENTIALS), [mcpUrl]: MCP_SECRET }),
    }),
  });
  issuer = broker.url;
  await mcp.restart();
});

afterAll(async () => {
  await Promise.all([mcp?.dispose(), broker?.dispose()]);
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const attacker = () => new WritClient({ issuer: broker.url, agentId: "billing-agent", key: keys["billing-agent"] as AgentKey });

/** One JSON-RPC request to the MCP endpoint, as any HTTP client can send it. */
function rpc(body: Record<string, unknown>, token?: string): Promise<Response> {
  return fetch(mcpUrl, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, ...body }),
  });
}

/** The challenges offer DPoP beside Bearer (RFC 9449 §7.1), with the verifier's default algorithms. */
const DPOP_ALGS = DPOP_ALGORITHMS.join(" ");
const metadataUrl = () => `${mcp.url}/.well-known/oauth-protected-resource/mcp`;

const callTool = (name: string, args: Record<string, unknown>, token?: string) =>
  rpc({ method: "tools/call", params: { name, arguments: args } }, token);

/** Whether the broker still has no usage report for a token: the first report (as its service) is then `recorded`. */
async function unreported(token: string, credential: string): Promise<boolean> {
  const res = await fetch(`${broker.url}/usage`, {
    method: "POST",
    headers: { authorization: `Bearer ${credential}`, "content-type": "application/json" },
    body: JSON.stringify({ token, units: { max_rows: 1 } }),
  });
  return ((await res.json()) as { status?: string }).status === "recorded";
}

describe("an MCP client without a token", () => {
  it("finds Writ in the protected-resource metadata, at the path-suffixed and the bare well-known address", async () => {
    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]) {
      const res = await fetch(`${mcp.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(await res.json()).toEqual({
        resource: mcpUrl,
        authorization_servers: [broker.url],
        scopes_supported: ["customers.query", "customers.export"],
        bearer_methods_supported: ["header"],
        resource_name: "Writ example: customers",
      });
    }
  });

  it("is answered 401 with a challenge naming the metadata and the use case to ask for", async () => {
    const res = await rpc({ method: "initialize", params: {} });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer realm="${mcpUrl}", scope="customers.query", resource_metadata="${metadataUrl()}", ` +
        `DPoP realm="${mcpUrl}", scope="customers.query", algs="${DPOP_ALGS}", resource_metadata="${metadataUrl()}"`,
    );
    expect(await res.json()).toEqual({ error_description: "a Writ access token is required (Authorization: Bearer <token>)" });
  });

  it("is asked for the tool's own use case when its first request is a tool call", async () => {
    const res = await callTool("export_customers", { ticket: "SUP-1" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('scope="customers.export"');
  });
});

describe("the example agent (MCP SDK client + writMcpFetch)", () => {
  it("lists tools, queries, follows a remediation, steps up through an approval, and is stopped by the daily row budget", async () => {
    const steps: AgentStep[] = [];
    await runAgent({
      mcpUrl,
      issuer: broker.url,
      agentId: "support-bot",
      key: keys["support-bot"] as AgentKey,
      report: (step) => steps.push(step),
      onApproval: (pending) => approveFromDevOutbox(broker.url, pending.authReqId.split(".")[0] ?? "", "dana@example.com"),
      maxFloodCalls: 20,
    });
    expect(steps.map((s) => s.step)).toEqual([
      "connected",
      "tools",
      "query",
      "denied",
      "remediated",
      "pending",
      "exported",
      "flood",
      "rate_limited",
    ]);
    const by = Object.fromEntries(steps.map((s) => [s.step, s])) as Record<string, Record<string, unknown>>;
    expect(by.connected).toEqual({ step: "connected", server: "writ-example-customers" });
    expect(by.tools).toEqual({ step: "tools", names: ["export_customers", "query_customers"] });
    expect(by.query).toEqual({ step: "query", limit: 10, count: 10 });
    expect(by.denied).toEqual({
      step: "denied",
      error: "insufficient_authorization_details",
      description: "argument limit is 500, over the token's max_rows (50)",
      rule: { check: "at_most", argument: "limit", limit: "max_rows", granted: 50, value: 500 },
      retryWith: { limit: 50 },
    });
    expect(by.remediated).toEqual({ step: "remediated", arguments: { limit: 50 }, count: 50 });
    expect(by.pending).toMatchObject({ useCase: "customers.export" });
    expect(by.exported).toEqual({ step: "exported", count: 500, approvedBy: ["dana@example.com"] });
    // 300 rows a day: 10 + 50 counted by usage reports, then 50-row tokens until the next one would pass 300.
    expect(by.flood).toEqual({ step: "flood", calls: 4, rows: 200 });
    expect(by.rate_limited).toMatchObject({ step: "rate_limited", error: "rate_limited" });
    expect(String(by.rate_limited?.description)).toContain("max_rows per day");
  });
});

describe("attacks on the MCP server", () => {
  it("refuses a valid Writ token minted for another service (no passthrough), and nothing is reported for it", async () => {
    const { accessToken } = await attacker().token({ useCase: "crm.customers.read" });
    const res = await callTool("query_customers", { limit: 1 }, accessToken);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer realm="${mcpUrl}", scope="customers.query", error="invalid_token", ` +
        `error_description="the access token is for another service", resource_metadata="${metadataUrl()}", ` +
        `DPoP realm="${mcpUrl}", scope="customers.query", algs="${DPOP_ALGS}", resource_metadata="${metadataUrl()}"`,
    );
    expect(await res.json()).toEqual({ error: "invalid_token", error_description: "the access token is for another service" });
    expect(await unreported(accessToken, CRM_SECRET)).toBe(true);
  });

  it("answers a tool outside the token's use case with the MCP step-up challenge, starting no approval", async () => {
    const { accessToken } = await attacker().token({ useCase: "customers.query", resource: mcpUrl });
    const mailsBefore = await outboxCount();
    const res = await callTool("export_customers", { ticket: "SUP-7" }, accessToken);
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer realm="${mcpUrl}", error="insufficient_scope", error_description="the access token is for another use case", ` +
        `scope="customers.export", resource_metadata="${metadataUrl()}", ` +
        `DPoP realm="${mcpUrl}", algs="${DPOP_ALGS}", resource_metadata="${metadataUrl()}"`,
    );
    expect(await res.json()).toEqual({ error: "insufficient_scope", error_description: "the access token is for another use case" });
    expect(await outboxCount()).toBe(mailsBefore);
    expect(await unreported(accessToken, MCP_SECRET)).toBe(true);
  });

  it("refuses an argument one over the limit with a structured denial, and lets the limit itself through", async () => {
    const { accessToken } = await attacker().token({ useCase: "customers.query", resource: mcpUrl, intent: "boundary" });
    const over = await callTool("query_customers", { limit: 51 }, accessToken);
    expect(over.status).toBe(200);
    const { result } = (await over.json()) as { result: { isError: boolean; structuredContent: unknown } };
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toEqual({
      error: "insufficient_authorization_details",
      error_description: "argument limit is 51, over the token's max_rows (50)",
      tool: "query_customers",
      rule: { check: "at_most", argument: "limit", limit: "max_rows", granted: 50, value: 51 },
      authorization_details: [
        {
          type: "agent_use_case",
          use_case: "customers.query",
          actions: ["read"],
          locations: [`${mcp.url}/tables/customers`],
          limits: { max_rows: 51 },
        },
      ],
      retry_with: { arguments: { limit: 50 } },
    });
    // Refused before the tool ran: the token has paid for nothing yet.
    expect(await unreported(accessToken, MCP_SECRET)).toBe(true);

    const { accessToken: second } = await attacker().token({ useCase: "customers.query", resource: mcpUrl, intent: "boundary 2" });
    const atLimit = await callTool("query_customers", { limit: 50 }, second);
    const body = (await atLimit.json()) as { result: { isError?: boolean; structuredContent: { count: number } } };
    expect(body.result.isError).toBeUndefined();
    expect(body.result.structuredContent.count).toBe(50);
  });

  it("refuses a table outside the token's locations, naming the location a token would need", async () => {
    const { accessToken } = await attacker().token({ useCase: "customers.query", resource: mcpUrl, intent: "tables" });
    const res = await callTool("query_customers", { table: "orders" }, accessToken);
    const { result } = (await res.json()) as { result: { isError: boolean; structuredContent: Record<string, unknown> } };
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({
      error: "insufficient_authorization_details",
      rule: { check: "within_locations", argument: "table", location: `${mcp.url}/tables/orders` },
      authorization_details: [{ use_case: "customers.query", locations: [`${mcp.url}/tables/orders`] }],
      retry_with: { arguments: { table: "customers" } },
    });
    expect(await unreported(accessToken, MCP_SECRET)).toBe(true);
  });
});

describe("writMcpFetch against a server that lies in its metadata", () => {
  /** The real server, with its metadata document changed in transit. */
  const tampered =
    (change: (metadata: Record<string, unknown>) => Record<string, unknown>) =>
    async (url: string | URL, init?: RequestInit): Promise<Response> => {
      const res = await fetch(url, init);
      if (!String(url).includes("/.well-known/oauth-protected-resource")) return res;
      return Response.json(change((await res.json()) as Record<string, unknown>));
    };

  for (const [name, change, message] of [
    [
      "names another authorization server",
      (m: Record<string, unknown>) => ({ ...m, authorization_servers: ["https://evil.example"] }),
      /does not name/,
    ],
    ["names another resource", (m: Record<string, unknown>) => ({ ...m, resource: "https://crm.example.com" }), /names resource/],
  ] as const)
    it(`gets no token when the metadata ${name}`, async () => {
      const tokenRequests: string[] = [];
      const writ = new WritClient({
        issuer: broker.url,
        agentId: "billing-agent",
        key: keys["billing-agent"] as AgentKey,
        fetch: (url, init) => {
          if (url.endsWith("/token")) tokenRequests.push(url);
          return fetch(url, init);
        },
      });
      const client = new Client({ name: "careful-agent", version: "0.0.0" });
      const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { fetch: writMcpFetch({ writ, fetch: tampered(change) }) });
      await expect(client.connect(transport)).rejects.toThrow(message);
      expect(tokenRequests).toEqual([]);
    });
});

describe("DPoP-bound tokens (RFC 9449) at the MCP server", () => {
  it("the agent's fetch sends a fresh proof with each request of a bound token", async () => {
    const writ = new WritClient({ issuer: broker.url, agentId: "report-bot", key: keys["report-bot"] as AgentKey, dpop: true });
    const client = new Client({ name: "dpop-agent", version: "0.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { fetch: writMcpFetch({ writ }) }));
    try {
      expect((await client.listTools()).tools).toHaveLength(2);
      const result = (await client.callTool({ name: "query_customers", arguments: { limit: 5 } })) as { structuredContent?: unknown };
      expect(result.structuredContent).toMatchObject({ count: 5 });
      const token = await writ.token({ useCase: "customers.query", resource: mcpUrl });
      expect(token.tokenType).toBe("DPoP");
    } finally {
      await client.close();
    }
  });

  it("refuses a bound token without its proof, with a replayed proof, and with a proof for another URL or method", async () => {
    const writ = new WritClient({ issuer: broker.url, agentId: "billing-agent", key: keys["billing-agent"] as AgentKey, dpop: true });
    const token = await writ.token({ useCase: "customers.query", resource: mcpUrl, intent: "dpop attacks" });
    expect(token.tokenType).toBe("DPoP");
    const list = (authorization: string, proof?: string) =>
      fetch(mcpUrl, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          authorization,
          ...(proof === undefined ? {} : { dpop: proof }),
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
      });
    const refusal = async (res: Response) => ({ status: res.status, body: await res.json() });
    const invalidProof = { error: "invalid_dpop_proof", error_description: "the DPoP proof is missing or invalid for this request" };

    expect(await refusal(await list(`Bearer ${token.accessToken}`))).toEqual({
      status: 401,
      body: {
        error: "invalid_token",
        error_description: "a DPoP-bound access token is required, sent as Authorization: DPoP with a DPoP proof",
      },
    });
    expect(await refusal(await list(`DPoP ${token.accessToken}`))).toEqual({ status: 401, body: invalidProof });
    const elsewhere = await writ.dpopProof("POST", `${mcp.url}/other`, token.accessToken);
    expect(await refusal(await list(`DPoP ${token.accessToken}`, elsewhere))).toEqual({ status: 401, body: invalidProof });
    const otherMethod = await writ.dpopProof("GET", mcpUrl, token.accessToken);
    expect(await refusal(await list(`DPoP ${token.accessToken}`, otherMethod))).toEqual({ status: 401, body: invalidProof });

    const proof = await writ.dpopProof("POST", mcpUrl, token.accessToken);
    expect((await list(`DPoP ${token.accessToken}`, proof)).status).toBe(200);
    const replayed = await list(`DPoP ${token.accessToken}`, proof);
    expect(await refusal(replayed)).toEqual({
      status: 401,
      body: { error: "invalid_dpop_proof", error_description: "the DPoP proof was already used" },
    });
    expect(await unreported(token.accessToken, MCP_SECRET)).toBe(true);
  });
});

describe("the MCP SDK's own PrivateKeyJwtProvider against Writ", () => {
  const provider = () =>
    new PrivateKeyJwtProvider({
      clientId: "report-bot",
      privateKey: keys["report-bot"] as Record<string, unknown>,
      algorithm: "ES256",
      scope: "customers.query",
      expectedIssuer: broker.url,
    });

  it("does not work unchanged: the SDK requires authorization_endpoint, which a client-credentials-only server may omit", async () => {
    const client = new Client({ name: "sdk-provider", version: "0.0.0" });
    // RFC 8414 §2 makes authorization_endpoint REQUIRED only when a grant uses it; SDK 1.32's metadata schema always does.
    await expect(client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider() }))).rejects.toThrow(
      /authorization_endpoint/,
    );
  });

  it("with authorization_endpoint present, gets a token for its configured use case and calls tools, but cannot step up", async () => {
    // Adds the one field the SDK insists on, as the broker would if it listed an authorization endpoint.
    const withAuthorizationEndpoint = async (url: string | URL, init?: RequestInit): Promise<Response> => {
      const res = await fetch(url, init);
      if (!String(url).endsWith("/.well-known/oauth-authorization-server") || !res.ok) return res;
      return Response.json({ ...((await res.json()) as object), authorization_endpoint: `${broker.url}/authorize` });
    };
    const client = new Client({ name: "sdk-provider", version: "0.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider(), fetch: withAuthorizationEndpoint }),
    );
    try {
      const result = (await client.callTool({ name: "query_customers", arguments: { limit: 3 } })) as {
        structuredContent?: { count?: number };
      };
      expect(result.structuredContent?.count).toBe(3);
      // The SDK's fetchToken asks for the provider's configured scope, not the challenge's: step-up gets the same token kind.
      await expect(client.callTool({ name: "export_customers", arguments: { ticket: "SUP-9" } })).rejects.toThrow(/403/);
    } finally {
      await client.close();
    }
  });
});

async function outboxCount(): Promise<number> {
  const res = await fetch(`${broker.url}/dev/outbox.json`);
  return ((await res.json()) as { mails: unknown[] }).mails.length;
}
