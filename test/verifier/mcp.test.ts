// The MCP middleware (verifier/mcp.ts) against hand-made requests and a stand-in MCP server: metadata, challenges,
// step-up, per-argument denials, tools/list filtering and usage reports. The real SDK and broker: test/e2e/mcp.test.ts.
import { Hono } from "hono";
import { beforeAll, describe, expect, it } from "vitest";
import { createVerifier, type JwksFetch, type Verifier } from "../../verifier/index.ts";
import { createMcpAuth, type McpAuthContext, type McpAuthOptions, type McpToolRule } from "../../verifier/mcp.ts";
import { writMcp, writMcpMetadata } from "../../verifier/mcp-hono.ts";
import { jwksOf, signToken, type TestKey, testKey } from "../support/access-tokens.ts";
import { ISSUER } from "../support/assertions.ts";

const MCP = "https://mcp.example.com/mcp";
const METADATA = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const TABLES = "https://mcp.example.com/tables/";
const QUERY = "customers.query";
const EXPORT = "customers.export";

const TOOLS: Record<string, McpToolRule> = {
  query_customers: {
    useCase: QUERY,
    action: "read",
    arguments: { limit: { atMost: "max_rows" }, table: { within: "locations", prefix: TABLES } },
  },
  export_customers: { useCase: EXPORT, action: "export" },
};

let key: TestKey;
let verifier: Verifier;

beforeAll(async () => {
  key = await testKey("writ-1");
  verifier = createVerifier({ issuer: ISSUER, audience: MCP, jwks: jwksOf(key) });
});

/** A Writ token for the MCP server: customers.query with max_rows 50 on the customers table, unless overridden. */
function mcpToken(overrides: { useCase?: string; actions?: string[]; limits?: Record<string, number>; aud?: string } = {}) {
  const useCase = overrides.useCase ?? QUERY;
  return signToken(key, {
    claims: {
      aud: overrides.aud ?? MCP,
      scope: useCase,
      authorization_details: [
        {
          type: "agent_use_case",
          use_case: useCase,
          actions: overrides.actions ?? ["read"],
          locations: [`${TABLES}customers`],
          limits: overrides.limits ?? { max_rows: 50 },
        },
      ],
    },
  });
}

/** A POST of one JSON-RPC request to the endpoint. */
function rpc(method: string, params: Record<string, unknown>, token?: string): Request {
  return new Request(MCP, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 7, method, params }),
  });
}

const toolCall = (name: string, args: Record<string, unknown>, token?: string) => rpc("tools/call", { name, arguments: args }, token);

/** A stand-in MCP server: records what reached it and answers with `answer` (a JSON-RPC result for id 7). */
function server(answer: unknown = { content: [] }, options: { sse?: boolean } = {}) {
  const seen: Array<{ body: string; context: McpAuthContext }> = [];
  const next = async (request: Request, context: McpAuthContext) => {
    seen.push({ body: await request.text(), context });
    const message = JSON.stringify({ jsonrpc: "2.0", id: 7, result: answer });
    if (options.sse) return new Response(`event: message\ndata: ${message}\n\n`, { headers: { "content-type": "text/event-stream" } });
    return new Response(message, { headers: { "content-type": "application/json" } });
  };
  return { seen, next };
}

function auth(options: Partial<McpAuthOptions> = {}) {
  return createMcpAuth({ verifier, tools: TOOLS, ...options });
}

describe("createMcpAuth options", () => {
  it("refuses, at creation, declarations that could not be enforced", () => {
    expect(() => createMcpAuth({ verifier, tools: {} })).toThrow(TypeError);
    expect(() => createMcpAuth({ verifier, tools: { t: { useCase: "" } } })).toThrow(/useCase/);
    expect(() => createMcpAuth({ verifier, tools: { t: { useCase: QUERY, arguments: { n: { atMost: "" } } } } })).toThrow(/atMost/);
    expect(() => createMcpAuth({ verifier, tools: { t: { useCase: QUERY, arguments: { n: {} as never } } } })).toThrow(/atMost/);
    expect(() => createMcpAuth({ verifier, tools: { t: { useCase: QUERY, units: () => ({}) } } })).toThrow(/usage/);
    expect(() => createMcpAuth({ verifier, tools: TOOLS, toolsList: "some" as never })).toThrow(/toolsList/);
    expect(() => createMcpAuth({ verifier, tools: TOOLS, usage: { credential: "has space" } })).toThrow(/credential/);
    const notAUrl = createVerifier({ issuer: ISSUER, audience: "crm", jwks: jwksOf(key) });
    expect(() => createMcpAuth({ verifier: notAUrl, tools: TOOLS })).toThrow(/URL/);
  });
});

describe("protected-resource metadata (RFC 9728)", () => {
  it("is served at the path-suffixed and the bare well-known address, naming the issuer and every tool's use case", async () => {
    const mcp = auth({ resourceName: "customers" });
    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]) {
      const res = mcp.metadataFor(new Request(`https://mcp.example.com${path}`));
      expect(res?.status).toBe(200);
      expect(await res?.json()).toEqual({
        resource: MCP,
        authorization_servers: [ISSUER],
        scopes_supported: [QUERY, EXPORT],
        bearer_methods_supported: ["header"],
        resource_name: "customers",
      });
    }
    expect(mcp.metadataUrl).toBe(METADATA);
    expect(mcp.metadataFor(new Request(METADATA, { method: "POST" }))).toBeUndefined();
    expect(mcp.metadataFor(new Request(MCP))).toBeUndefined();
  });
});

describe("challenges", () => {
  it("answers a request without a token 401, naming the metadata and the default use case, and calls nothing", async () => {
    const { seen, next } = server();
    const res = await auth().protect(rpc("initialize", {}), next);
    expect(res.status).toBe(401);
    const challenge = res.headers.get("www-authenticate") ?? "";
    expect(challenge.startsWith(`Bearer realm="${MCP}", scope="${QUERY}", resource_metadata="${METADATA}"`)).toBe(true);
    expect(seen).toEqual([]);
  });

  it("names the tool's own use case when the unauthenticated request is a tool call", async () => {
    const res = await auth().protect(toolCall("export_customers", {}), server().next);
    expect(res.headers.get("www-authenticate")).toContain(`scope="${EXPORT}"`);
  });

  it("refuses a token for another audience 401 invalid_token (no passthrough)", async () => {
    const { seen, next } = server();
    const res = await auth().protect(toolCall("query_customers", {}, await mcpToken({ aud: "https://crm.example.com" })), next);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "invalid_token", error_description: "the access token is for another service" });
    expect(res.headers.get("www-authenticate")).toContain(`resource_metadata="${METADATA}"`);
    expect(seen).toEqual([]);
  });

  it("answers a tool of another use case 403 insufficient_scope with that use case (MCP step-up)", async () => {
    const { seen, next } = server();
    const res = await auth().protect(toolCall("export_customers", {}, await mcpToken()), next);
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toContain(
      `Bearer realm="${MCP}", error="insufficient_scope", error_description="the access token is for another use case", scope="${EXPORT}", resource_metadata="${METADATA}"`,
    );
    expect(seen).toEqual([]);
  });

  it("steps up a token of the right use case narrowed to other actions", async () => {
    const res = await auth().protect(
      toolCall("export_customers", {}, await mcpToken({ useCase: EXPORT, actions: ["read"] })),
      server().next,
    );
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toContain(`scope="${EXPORT}"`);
  });
});

describe("per-argument rules", () => {
  it("lets a call within the token's limits through, with the grant as the SDK's authInfo and the body intact", async () => {
    const token = await mcpToken();
    const { seen, next } = server();
    const request = toolCall("query_customers", { limit: 50, table: "customers" }, token);
    const sent = await request.clone().text();
    const res = await auth().protect(request, next);
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.body).toBe(sent);
    expect(seen[0]?.context.authInfo).toMatchObject({ token, clientId: "support-bot", scopes: [QUERY], resource: new URL(MCP) });
    expect(seen[0]?.context.grant.limits).toEqual({ max_rows: 50 });
  });

  it("refuses one over max_rows as a tool error carrying the rule, the authorization_details that would pass, and a retry", async () => {
    const { seen, next } = server();
    const res = await auth().protect(toolCall("query_customers", { limit: 51, country: "FR" }, await mcpToken()), next);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      id: number;
      result: { isError: boolean; structuredContent: unknown; content: Array<{ text: string }> };
    };
    expect(body.id).toBe(7);
    expect(body.result.isError).toBe(true);
    expect(body.result.structuredContent).toEqual({
      error: "insufficient_authorization_details",
      error_description: "argument limit is 51, over the token's max_rows (50)",
      tool: "query_customers",
      rule: { check: "at_most", argument: "limit", limit: "max_rows", granted: 50, value: 51 },
      authorization_details: [
        { type: "agent_use_case", use_case: QUERY, actions: ["read"], locations: [`${TABLES}customers`], limits: { max_rows: 51 } },
      ],
      retry_with: { arguments: { limit: 50, country: "FR" } },
    });
    expect(body.result.content[0]?.text).toContain("Refused by Writ: argument limit is 51");
    expect(seen).toEqual([]);
  });

  it("keeps the denial out of structuredContent for a tool with an outputSchema, which MCP clients validate it against", async () => {
    const mcp = auth({ tools: { ...TOOLS, query_customers: { ...TOOLS.query_customers, useCase: QUERY, outputSchema: true } } });
    const res = await mcp.protect(toolCall("query_customers", { limit: 51 }, await mcpToken()), server().next);
    const { result } = (await res.json()) as { result: Record<string, unknown> };
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    expect(result._meta).toMatchObject({ "writ/denial": { error: "insufficient_authorization_details", tool: "query_customers" } });
  });

  it("refuses a limit it cannot compare: a token without max_rows, or a non-number argument, with no remedy", async () => {
    const noLimit = await auth().protect(toolCall("query_customers", { limit: 1 }, await mcpToken({ limits: {} })), server().next);
    const denial = ((await noLimit.json()) as { result: { structuredContent: Record<string, unknown> } }).result.structuredContent;
    expect(denial).toMatchObject({ error: "access_denied", rule: { check: "at_most", granted: null } });
    expect(denial.retry_with).toBeUndefined();
    const text = await auth().protect(toolCall("query_customers", { limit: "9999" }, await mcpToken()), server().next);
    expect(((await text.json()) as { result: { structuredContent: unknown } }).result.structuredContent).toMatchObject({
      error: "access_denied",
      error_description: "argument limit must be a whole number from 0 (checked against max_rows)",
    });
  });

  it("refuses a negative, fractional or huge negative limit, which a database would read as no limit, without calling the tool", async () => {
    for (const limit of [-1, 1.5, -1e308]) {
      const { seen, next } = server();
      const res = await auth().protect(toolCall("query_customers", { limit }, await mcpToken()), next);
      expect(res.status).toBe(200);
      const { result } = (await res.json()) as { result: { isError: boolean; structuredContent: Record<string, unknown> } };
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toEqual({
        error: "access_denied",
        error_description: "argument limit must be a whole number from 0 (checked against max_rows)",
        tool: "query_customers",
        rule: { check: "at_most", argument: "limit", limit: "max_rows", granted: 50, value: limit },
      });
      expect(seen).toEqual([]);
    }
    const zero = server();
    expect((await auth().protect(toolCall("query_customers", { limit: 0 }, await mcpToken()), zero.next)).status).toBe(200);
    expect(zero.seen).toHaveLength(1);
  });

  it("refuses a call leaving out a required argument, with the call the token allows; optional ones may be left out", async () => {
    const mcp = auth({
      tools: {
        ...TOOLS,
        query_customers: { useCase: QUERY, action: "read", arguments: { limit: { atMost: "max_rows", required: true } } },
      },
    });
    const { seen, next } = server();
    const res = await mcp.protect(toolCall("query_customers", { country: "FR" }, await mcpToken()), next);
    const { result } = (await res.json()) as { result: { isError: boolean; structuredContent: unknown } };
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toEqual({
      error: "access_denied",
      error_description: "argument limit is required",
      tool: "query_customers",
      rule: { check: "required", argument: "limit" },
      retry_with: { arguments: { country: "FR", limit: 50 } },
    });
    expect(seen).toEqual([]);
    const optional = server();
    expect((await auth().protect(toolCall("query_customers", { country: "FR" }, await mcpToken()), optional.next)).status).toBe(200);
    expect(optional.seen).toHaveLength(1);
    expect(() => auth({ tools: { t: { useCase: QUERY, arguments: { n: { atMost: "max_rows", required: "yes" as never } } } } })).toThrow(
      /required/,
    );
  });

  it("refuses a table outside the token's locations, naming the location needed and one it may read", async () => {
    const res = await auth().protect(toolCall("query_customers", { table: "orders" }, await mcpToken()), server().next);
    const { result } = (await res.json()) as { result: { structuredContent: unknown } };
    expect(result.structuredContent).toMatchObject({
      error: "insufficient_authorization_details",
      rule: { check: "within_locations", argument: "table", location: `${TABLES}orders`, granted: [`${TABLES}customers`] },
      authorization_details: [{ use_case: QUERY, locations: [`${TABLES}orders`], limits: { max_rows: 50 } }],
      retry_with: { arguments: { table: "customers" } },
    });
  });

  it("refuses a tool nobody declared, whatever the token", async () => {
    const { seen, next } = server();
    const res = await auth().protect(toolCall("drop_table", {}, await mcpToken()), next);
    const { result } = (await res.json()) as { result: { isError: boolean; structuredContent: unknown } };
    expect(result).toMatchObject({
      isError: true,
      structuredContent: { error: "access_denied", tool: "drop_table", rule: { check: "declared" } },
    });
    expect(seen).toEqual([]);
  });
});

describe("request bodies", () => {
  it("refuses a body past 4 MB sent without Content-Length 413, having read no more than the cap and one chunk", async () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    let pulled = 0;
    // 64 MB in all, handed out only as the middleware reads.
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (pulled >= 64 * 1024 * 1024) return controller.close();
          pulled += chunk.byteLength;
          controller.enqueue(chunk);
        },
      },
      { highWaterMark: 0 },
    );
    const request = new Request(MCP, { method: "POST", headers: { authorization: `Bearer ${await mcpToken()}` }, body });
    expect(request.headers.get("content-length")).toBeNull();
    const { seen, next } = server();
    const res = await auth().protect(request, next);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: "invalid_request", error_description: "request body too large" });
    expect(pulled).toBeLessThanOrEqual(4 * 1024 * 1024 + chunk.byteLength);
    expect(seen).toEqual([]);
  });
});

describe("tools/list", () => {
  const listed = { tools: [{ name: "query_customers" }, { name: "export_customers" }, { name: "undeclared" }] };

  it("lists every tool by default, so that an agent can discover what to step up to", async () => {
    const res = await auth().protect(rpc("tools/list", {}, await mcpToken()), server(listed).next);
    expect(((await res.json()) as { result: unknown }).result).toEqual(listed);
  });

  it('with toolsList "usable", lists only the tools the token\'s use case covers, in JSON and in SSE answers', async () => {
    const mcp = auth({ toolsList: "usable" });
    const json = await mcp.protect(rpc("tools/list", {}, await mcpToken()), server(listed).next);
    expect(((await json.json()) as { result: unknown }).result).toEqual({ tools: [{ name: "query_customers" }] });
    const sse = await mcp.protect(
      rpc("tools/list", {}, await mcpToken({ useCase: EXPORT, actions: ["read", "export"] })),
      server(listed, { sse: true }).next,
    );
    expect(sse.headers.get("content-type")).toBe("text/event-stream");
    const data = (await sse.text()).split("\n").find((line) => line.startsWith("data: ")) ?? "";
    expect(JSON.parse(data.slice(6)).result).toEqual({ tools: [{ name: "export_customers" }] });
  });
});

describe("usage reports", () => {
  /** A broker /usage double answering `status` (or failing), recording what it was sent. */
  function usageEndpoint(answer: { status?: string } | Error) {
    const reports: Array<{ url: string; authorization: string | null; body: unknown }> = [];
    const fetch: JwksFetch = async (url, init) => {
      reports.push({ url, authorization: new Headers(init.headers).get("authorization"), body: JSON.parse(String(init.body)) });
      if (answer instanceof Error) throw answer;
      return Response.json(answer);
    };
    return { reports, fetch };
  }

  const metered = (fetch: JwksFetch) =>
    auth({
      tools: {
        ...TOOLS,
        query_customers: { ...TOOLS.query_customers, useCase: QUERY, units: (r) => ({ max_rows: Number(r.structuredContent?.count) }) },
      },
      usage: { credential: "mcp-secret", fetch },
    });
  const rows = { content: [], structuredContent: { count: 12 } };

  it("reports the units of a successful metered call with the service credential, and passes its result", async () => {
    const broker = usageEndpoint({ status: "recorded" });
    const token = await mcpToken();
    const res = await metered(broker.fetch).protect(toolCall("query_customers", { limit: 12 }, token), server(rows).next);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: unknown }).result).toEqual(rows);
    expect(broker.reports).toEqual([
      { url: `${ISSUER}/usage`, authorization: "Bearer mcp-secret", body: { token, units: { max_rows: 12 } } },
    ]);
  });

  it("withholds the result of a token that already paid for a metered call, 401 invalid_token", async () => {
    const broker = usageEndpoint({ status: "already_reported" });
    const res = await metered(broker.fetch).protect(toolCall("query_customers", {}, await mcpToken()), server(rows).next);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "invalid_token", error_description: "the access token is no longer active" });
    expect(res.headers.get("www-authenticate")).toContain(`resource_metadata="${METADATA}"`);
  });

  it("runs a metered tool once per token: a second call is refused 401 invalid_token before the tool runs", async () => {
    const broker = usageEndpoint({ status: "recorded" });
    const mcp = metered(broker.fetch);
    const token = await mcpToken();
    const { seen, next } = server(rows);
    expect((await mcp.protect(toolCall("query_customers", { limit: 12 }, token), next)).status).toBe(200);
    const again = await mcp.protect(toolCall("query_customers", { limit: 12 }, token), next);
    expect(again.status).toBe(401);
    expect(await again.json()).toEqual({ error: "invalid_token", error_description: "the access token is no longer active" });
    expect(seen).toHaveLength(1);
    expect(broker.reports).toHaveLength(1);
    // Unmetered methods still pass with the spent token.
    expect((await mcp.protect(rpc("tools/list", {}, token), server({ tools: [] }).next)).status).toBe(200);
  });

  it("refuses a batch of two metered calls, or requests sharing an id, 400 Invalid Request, before the tool runs", async () => {
    const broker = usageEndpoint({ status: "recorded" });
    const mcp = metered(broker.fetch);
    const token = await mcpToken();
    const call = (id: number, limit: number) => ({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { name: "query_customers", arguments: { limit } },
    });
    const cases: Array<[unknown[], string]> = [
      [[call(7, 50), call(8, 50)], "Invalid Request: only one metered tool call per request: a token pays for one"],
      // A cheap request answering under the metered call's id would be the result its units are read from.
      [[call(7, 50), { jsonrpc: "2.0", id: 7, method: "ping" }], "Invalid Request: requests in one batch must have distinct ids"],
      [[{ ...call(7, 50), id: undefined }], "Invalid Request: a metered tool call must have an id"],
    ];
    for (const [batch, message] of cases) {
      const { seen, next } = server(rows);
      const request = new Request(MCP, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(batch),
      });
      const res = await mcp.protect(request, next);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32600, message } });
      expect(seen).toEqual([]);
    }
    expect(broker.reports).toEqual([]);
    // The token was not spent by the refused batches.
    const { seen, next } = server(rows);
    expect((await mcp.protect(toolCall("query_customers", { limit: 12 }, token), next)).status).toBe(200);
    expect(seen).toHaveLength(1);
  });

  it("fails closed, 503, when the report cannot be made", async () => {
    const broker = usageEndpoint(new TypeError("network down"));
    const res = await metered(broker.fetch).protect(toolCall("query_customers", {}, await mcpToken()), server(rows).next);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
  });

  it("reports nothing for a failed call or an unmetered method", async () => {
    const broker = usageEndpoint({ status: "recorded" });
    const mcp = metered(broker.fetch);
    await mcp.protect(toolCall("query_customers", {}, await mcpToken()), server({ content: [], isError: true }).next);
    await mcp.protect(rpc("tools/list", {}, await mcpToken()), server({ tools: [] }).next);
    expect(broker.reports).toEqual([]);
  });
});

describe("the Hono flavour", () => {
  it("serves the metadata, challenges, and hands the route c.var.writ", async () => {
    const app = new Hono();
    const mcp = auth();
    app.get("/.well-known/oauth-protected-resource/*", writMcpMetadata(mcp));
    app.get("/.well-known/oauth-protected-resource", writMcpMetadata(mcp));
    app.all(
      "/mcp",
      writMcp(mcp, async (_request, { grant }, c) =>
        c.json({ jsonrpc: "2.0", id: 7, result: { agent: c.var.writ.agent, useCase: grant.useCase } }),
      ),
    );
    expect((await app.request(METADATA)).status).toBe(200);
    expect((await app.request("https://mcp.example.com/.well-known/oauth-protected-resource")).status).toBe(200);
    expect((await app.request(rpc("tools/list", {}))).status).toBe(401);
    const ok = await app.request(rpc("tools/list", {}, await mcpToken()));
    expect(await ok.json()).toEqual({ jsonrpc: "2.0", id: 7, result: { agent: "support-bot", useCase: QUERY } });
    expect(() => writMcp(mcp, undefined as never)).toThrow(TypeError);
  });
});
