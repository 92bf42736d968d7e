/**
 * Writ for the official MCP TypeScript SDK client: a `fetch` for `StreamableHTTPClientTransport` that gets each
 * request its Writ token. It discovers the MCP server's protected-resource metadata (RFC 9728) from the server's
 * 401 challenge, checks that the server names this broker as its authorization server and itself as the resource,
 * asks for tokens with RFC 8707 `resource` = the MCP server, keeps one token per use case (a tool's use case is
 * learned from the server's step-up answer, 403 `insufficient_scope`), waits for a human approval (CIBA) when the
 * use case needs one, gets a fresh token when the server says a token is spent, and sends a DPoP proof with each
 * request when the `WritClient` has `dpop` on (RFC 9449).
 *
 * The SDK is the caller's: this module only matches its `fetch` option structurally.
 *
 * @example
 * import { Client } from "@modelcontextprotocol/sdk/client/index.js";
 * import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
 * import { WritClient, writMcpFetch } from "@writ/agent";
 *
 * const writ = new WritClient({ issuer: "https://writ.example.com", agentId: "support-bot", key });
 * const transport = new StreamableHTTPClientTransport(new URL("https://mcp.example.com/mcp"), {
 *   fetch: writMcpFetch({ writ, onApproval: ({ useCase }) => console.log(`waiting for a human to approve ${useCase}…`) }),
 * });
 * await new Client({ name: "support-bot", version: "1.0.0" }).connect(transport);
 */
import { WritDiscoveryFailed } from "./errors.ts";
import type { PendingApproval, RequestContext, WritToken } from "./types.ts";

/** The `fetch` option of the MCP SDK's transports (its `FetchLike`). */
export type McpFetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/** The one method of `WritClient` this module uses (so tests and wrappers can pass their own). */
export type McpTokenSource = {
  readonly issuer: string;
  token(request: {
    useCase: string;
    resource: string;
    intent?: string;
    context?: RequestContext;
    fresh?: boolean;
    onPending?: (pending: PendingApproval) => void | Promise<void>;
  }): Promise<WritToken>;
  /** `Authorization` (and `DPoP` proof, RFC 9449) headers for one request: needed for DPoP-bound tokens. */
  authHeaders?(token: WritToken, request: { method: string; url: string }): Promise<Record<string, string>>;
};

/** The tool call a token is for, when the request is one. */
export type McpToolCall = { tool: string; arguments: Record<string, unknown> };

/**
 * @example
 * const options: WritMcpOptions = { writ, intent: (useCase) => `${useCase} for ticket SUP-42`, context: () => ({ ticket: "SUP-42" }) };
 */
export type WritMcpOptions = {
  writ: McpTokenSource;
  /**
   * What the agent is about to do, for the token request of a use case (approvers read it; some use cases require it).
   * Tokens are cached per use case and intent: an intent that changes with every call costs a token per call.
   */
  intent?: (useCase: string, call: McpToolCall | undefined) => string | undefined;
  /** Facts for the use case's conditions (e.g. a ticket id); part of the cache key too. */
  context?: (useCase: string, call: McpToolCall | undefined) => RequestContext | undefined;
  /** Told when a tool's use case needs a human approval, and after each poll that finds it pending. */
  onApproval?: (event: PendingApproval & { tool: string | undefined }) => void | Promise<void>;
  /** Default: the global `fetch`. */
  fetch?: McpFetch;
};

type Challenge = { error?: string; scope?: string; resource_metadata?: string };
type Discovered = { resource: string };

/** Retries per request: discovery, then a step-up or a fresh token. More would mean the server and broker disagree. */
const MAX_ATTEMPTS = 3;

export function writMcpFetch(options: WritMcpOptions): McpFetch {
  if (typeof options !== "object" || options === null || typeof options.writ?.token !== "function")
    throw new TypeError("writMcpFetch({ writ }) needs a WritClient");
  const base: McpFetch = options.fetch ?? ((url, init) => fetch(url, init));
  /** Per MCP endpoint URL: what its metadata said. */
  const servers = new Map<string, Discovered>();
  /** Per MCP endpoint URL and tool: the use case the server asked for. "" is for requests that are not tool calls. */
  const useCases = new Map<string, string>();

  return async function writMcp(url, init = {}) {
    const endpoint = String(url);
    const call = toolCallOf(init.body);
    const useCaseKey = `${endpoint}\n${call?.tool ?? ""}`;
    let fresh = false;
    for (let attempt = 1; ; attempt++) {
      const server = servers.get(endpoint);
      const useCase = useCases.get(useCaseKey) ?? useCases.get(`${endpoint}\n`);
      const headers = new Headers(init.headers);
      if (server !== undefined && useCase !== undefined) {
        const token = await tokenFor(server, useCase, call, fresh);
        for (const [name, value] of Object.entries(await presentation(token, init.method ?? "GET", endpoint))) headers.set(name, value);
      }
      const response = await base(url, { ...init, headers });
      if (attempt >= MAX_ATTEMPTS || (response.status !== 401 && response.status !== 403)) return response;
      const challenge = parseChallenge(response.headers.get("www-authenticate"));
      const scope = challenge.scope?.split(" ")[0];
      if (response.status === 401) {
        if (server === undefined) servers.set(endpoint, await discover(endpoint, challenge.resource_metadata));
        // A token was sent and refused (expired, revoked, or spent on a metered call): the next one must be new.
        fresh = headers.has("authorization");
      } else if (challenge.error !== "insufficient_scope" || scope === undefined) return response;
      if (scope !== undefined) useCases.set(useCaseKey, scope);
      if (!useCases.has(`${endpoint}\n`) && scope !== undefined) useCases.set(`${endpoint}\n`, scope);
      await response.body?.cancel();
    }
  };

  /** Bearer, or for a DPoP-bound token `Authorization: DPoP` with a fresh proof for this very request. */
  async function presentation(token: WritToken, method: string, url: string): Promise<Record<string, string>> {
    if (options.writ.authHeaders !== undefined) return options.writ.authHeaders(token, { method, url });
    if (token.tokenType.toLowerCase() === "dpop") throw new TypeError("writMcpFetch: a DPoP-bound token needs a writ with authHeaders()");
    return { authorization: `Bearer ${token.accessToken}` };
  }

  function tokenFor(server: Discovered, useCase: string, call: McpToolCall | undefined, fresh: boolean): Promise<WritToken> {
    const intent = options.intent?.(useCase, call);
    const context = options.context?.(useCase, call);
    return options.writ.token({
      useCase,
      resource: server.resource,
      ...(intent === undefined ? {} : { intent }),
      ...(context === undefined ? {} : { context }),
      ...(fresh ? { fresh } : {}),
      onPending: (pending) => options.onApproval?.({ ...pending, tool: call?.tool }),
    });
  }

  /**
   * RFC 9728 §3 and §7: the metadata must name this endpoint as the resource and this broker as its authorization
   * server; otherwise the server could make the agent fetch tokens for another service (and receive them).
   */
  async function discover(endpoint: string, metadataUrl: string | undefined): Promise<Discovered> {
    const target = new URL(endpoint);
    const where = metadataUrl ?? `${target.origin}/.well-known/oauth-protected-resource${target.pathname.replace(/\/$/, "")}`;
    const response = await base(where, { headers: { accept: "application/json" } });
    const metadata = (await response.json().catch(() => undefined)) as { resource?: unknown; authorization_servers?: unknown } | undefined;
    if (!response.ok || typeof metadata?.resource !== "string")
      throw new WritDiscoveryFailed(`the MCP server's protected-resource metadata at ${where} is missing or malformed`);
    if (!resourceCovers(metadata.resource, target))
      throw new WritDiscoveryFailed(`the MCP server's metadata names resource ${metadata.resource}, not ${endpoint}`);
    const servers = Array.isArray(metadata.authorization_servers) ? metadata.authorization_servers : [];
    if (!servers.includes(options.writ.issuer))
      throw new WritDiscoveryFailed(`the MCP server at ${endpoint} does not name ${options.writ.issuer} as its authorization server`);
    return { resource: metadata.resource };
  }
}

/** The tool a JSON-RPC `tools/call` body names (the SDK sends one message per POST). */
function toolCallOf(body: RequestInit["body"]): McpToolCall | undefined {
  if (typeof body !== "string") return undefined;
  try {
    const message = JSON.parse(body) as { method?: unknown; params?: { name?: unknown; arguments?: unknown } };
    if (message.method !== "tools/call" || typeof message.params?.name !== "string") return undefined;
    const args = message.params.arguments;
    return { tool: message.params.name, arguments: typeof args === "object" && args !== null ? (args as Record<string, unknown>) : {} };
  } catch {
    return undefined;
  }
}

/** Same origin, and the endpoint's path is the resource's or below it (the MCP SDK's rule, `checkResourceAllowed`). */
function resourceCovers(resource: string, endpoint: URL): boolean {
  if (!URL.canParse(resource)) return false;
  const configured = new URL(resource);
  const slash = (path: string) => (path.endsWith("/") ? path : `${path}/`);
  return configured.origin === endpoint.origin && slash(endpoint.pathname).startsWith(slash(configured.pathname));
}

/** The auth-params of a `Bearer` challenge (RFC 9110 §11.6.1), quoted or not. */
function parseChallenge(header: string | null): Challenge {
  const challenge: Challenge = {};
  if (header === null) return challenge;
  for (const [, name, quoted, bare] of header.matchAll(/([a-z_]+)=(?:"([^"]*)"|([^\s,]+))/gi)) {
    const value = quoted ?? bare ?? "";
    // The first occurrence: with Bearer and DPoP challenges side by side, the error is on the scheme first named.
    if ((name === "error" || name === "scope" || name === "resource_metadata") && challenge[name] === undefined) challenge[name] = value;
  }
  return challenge;
}
