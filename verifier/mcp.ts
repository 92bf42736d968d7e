/**
 * Writ as the authorization server of an MCP server (MCP authorization; RFC 9728, 6750, 8707): protected-resource
 * metadata, challenges that lead agents to Writ, per-tool use cases with MCP step-up, per-argument checks against
 * the token's `authorization_details`, and optional usage reports. Framework-neutral (`Request` in, `Response` out):
 * Workers, Deno, Bun, and Node with any fetch-style server.
 *
 * @example
 * import { createVerifier } from "@writ/verifier";
 * import { createMcpAuth } from "@writ/verifier/mcp";
 *
 * const auth = createMcpAuth({
 *   verifier: createVerifier({ issuer: "https://writ.example.com", audience: "https://mcp.example.com/mcp" }),
 *   tools: { query_customers: { useCase: "customers.query", action: "read", arguments: { limit: { atMost: "max_rows" } } } },
 * });
 * export default { fetch: (request) => auth.handle(request, (req, { authInfo }) => transport.handleRequest(req, { authInfo })) };
 */
import { readAuthorization } from "./bearer.ts";
import { type BearerRefusal, bearerRefusal, checkQuotable } from "./challenge.ts";
import type { Verifier, WritGrant } from "./create-verifier.ts";
import { WritVerifyError } from "./errors.ts";
import {
  batchProblem,
  deniedToolResult,
  editMessages,
  invalidRequest,
  isObject,
  isToolCall,
  MAX_MCP_BODY_BYTES,
  type McpCall,
  readBodyText,
  readCalls,
  readMessages,
  toolResultFor,
} from "./mcp-messages.ts";
import { metadataPaths, metadataResponse, metadataUrl, type ProtectedResourceMetadata, withScope } from "./mcp-metadata.ts";
import { decideToolCall, type McpDenial, type McpToolRule, type ResolvedToolRule, resolveToolRules, toolUsable } from "./mcp-rules.ts";
import { createSpendGuard, createUsageReporter, type McpUsageOptions, type UsageOutcome } from "./mcp-usage.ts";
import { misuse, requiredScopes } from "./options.ts";

export type { ProtectedResourceMetadata } from "./mcp-metadata.ts";
export type {
  McpArgumentCheck,
  McpArgumentRule,
  McpAuthorizationDetail,
  McpDenial,
  McpDeniedRule,
  McpToolResult,
  McpToolRule,
} from "./mcp-rules.ts";
export type { McpUsageOptions } from "./mcp-usage.ts";

/**
 * @example
 * const options: McpAuthOptions = { verifier, tools: { export_customers: { useCase: "customers.export", action: "export" } } };
 */
export type McpAuthOptions = {
  /** From `createVerifier`; its `audience` is this MCP endpoint's URL, as agents reach it and the policy lists it. */
  verifier: Verifier;
  /** Every tool the server offers, with what it needs. A tool missing here is refused to every token. */
  tools: Readonly<Record<string, McpToolRule>>;
  /** The use case a challenge asks for when the request is not a tool call (`initialize`, `tools/list`). Default: the first tool's. */
  defaultUseCase?: string;
  /** `"all"` (default) lists every tool, and calls step up; `"usable"` lists only the tools the token's use case covers. */
  toolsList?: "all" | "usable";
  /** Report metered tools' units to the broker (see `McpToolRule.units`). */
  usage?: McpUsageOptions;
  /** Human-readable name for the metadata (RFC 9728 `resource_name`). */
  resourceName?: string;
  /** RFC 9728 `resource_documentation`. */
  resourceDocumentation?: string;
  /** Sees every refusal, for the server's own log. Must not answer the request. */
  onRefusal?: (refusal: McpRefusal) => void | Promise<void>;
};

/** Why the middleware answered in the MCP server's stead. */
export type McpRefusal =
  | { kind: "token"; error: WritVerifyError }
  | { kind: "step_up"; tool: string; useCase: string; needed: readonly string[] }
  | { kind: "denied"; denial: McpDenial }
  | { kind: "usage"; tool: string; outcome: Exclude<UsageOutcome, "recorded"> }
  /** A POST whose requests could not be counted honestly: several metered calls, or two requests with one id. */
  | { kind: "invalid_request"; description: string };

/** The MCP SDK's `AuthInfo`, structurally: pass it to `transport.handleRequest(request, { authInfo })`. */
export type McpAuthInfo = {
  token: string;
  clientId: string;
  scopes: string[];
  /** Seconds since the epoch. */
  expiresAt: number;
  resource: URL;
  extra: { writ: WritGrant };
};

export type McpAuthContext = { grant: WritGrant; authInfo: McpAuthInfo };
export type McpNext = (request: Request, context: McpAuthContext) => Promise<Response>;

export type McpAuth = {
  /** The MCP endpoint's URL (RFC 8707 resource, the tokens' `aud`). */
  readonly resource: string;
  /** Where the metadata is served, as the challenges name it. */
  readonly metadataUrl: string;
  readonly metadata: ProtectedResourceMetadata;
  /** The metadata answer for a GET of one of its two paths; `undefined` for any other request. */
  metadataFor(request: Request): Response | undefined;
  /** Authorizes a request to the MCP endpoint and, if allowed, passes it to `next`. CORS preflights (no credentials) are the caller's to answer first. */
  protect(request: Request, next: McpNext): Promise<Response>;
  /** `metadataFor`, else `protect`: a whole Worker that serves only MCP. */
  handle(request: Request, next: McpNext): Promise<Response>;
};

/**
 * Throws `TypeError` on bad options: a misdeclared tool must stop the server at startup, not wave calls through.
 *
 * @example
 * const auth = createMcpAuth({ verifier, tools, toolsList: "usable", usage: { credential: env.WRIT_SERVICE_SECRET } });
 */
export function createMcpAuth(options: McpAuthOptions): McpAuth {
  if (typeof options !== "object" || options === null) throw misuse("createMcpAuth options must be an object");
  const { verifier, onRefusal } = options;
  if (typeof verifier !== "object" || verifier === null || typeof verifier.verifyRequest !== "function")
    throw misuse("createMcpAuth needs a verifier from createVerifier()");
  if (!URL.canParse(verifier.audience)) throw misuse("the verifier's audience must be the MCP endpoint's URL");
  const resourceUrl = new URL(verifier.audience);
  if (resourceUrl.hash !== "") throw misuse("the MCP endpoint's URL must not have a fragment (RFC 8707 §2)");
  const resource = verifier.audience;
  checkQuotable(resource, "the MCP endpoint's URL");
  const rules = resolveToolRules(options.tools);
  const useCases = [...new Set([...rules.values()].flatMap((rule) => rule.useCases))];
  const defaultUseCase = requiredScopes(options.defaultUseCase ?? useCases[0] ?? "", "defaultUseCase");
  const toolsList = options.toolsList ?? "all";
  if (toolsList !== "all" && toolsList !== "usable") throw misuse('toolsList must be "all" or "usable"');
  if (onRefusal !== undefined && typeof onRefusal !== "function") throw misuse("onRefusal must be a function");
  const report = options.usage === undefined ? undefined : createUsageReporter(options.usage, verifier.issuer);
  const spend = options.usage === undefined ? undefined : createSpendGuard(options.usage);
  if (report === undefined && [...rules.values()].some((rule) => rule.units !== undefined))
    throw misuse("a tool has units but there is no usage option to report them with");

  const metadata: ProtectedResourceMetadata = {
    resource,
    authorization_servers: [verifier.issuer],
    scopes_supported: useCases,
    bearer_methods_supported: ["header"],
  };
  if (options.resourceName !== undefined) metadata.resource_name = options.resourceName;
  if (options.resourceDocumentation !== undefined) metadata.resource_documentation = options.resourceDocumentation;
  const paths = metadataPaths(resourceUrl);
  const resourceMetadata = metadataUrl(resourceUrl);

  /** Every refusal names the metadata (RFC 9728 §5.1) and the use case to ask for (MCP scope selection). */
  function refuse(error: WritVerifyError, scope: readonly string[]): Response {
    const refusal: BearerRefusal = bearerRefusal(error, { realm: resource, scope, resourceMetadata, dpop: verifier.dpop });
    const { status, body, headers } = withScope(refusal, resource, scope);
    return Response.json(body, { status, headers: { ...headers, "Cache-Control": "no-store" } });
  }

  async function protect(incoming: Request, next: McpNext): Promise<Response> {
    let request = incoming;
    let calls: McpCall[] = [];
    if (incoming.method === "POST") {
      const declared = Number(incoming.headers.get("content-length") ?? "0");
      if (declared > MAX_MCP_BODY_BYTES) return tooLarge();
      const text = await readBodyText(incoming);
      if (text === undefined) return tooLarge();
      // The body is read once, within the cap; the server gets a request rebuilt from that text.
      request = new Request(incoming, { body: text });
      calls = readCalls(text) ?? [];
    }
    const problem = batchProblem(calls, (call) => isToolCall(call) && rules.get(call.tool)?.units !== undefined);
    if (problem !== undefined) {
      await onRefusal?.({ kind: "invalid_request", description: problem });
      return invalidRequest(problem);
    }
    const toolCalls = calls.filter(isToolCall);
    const firstTool = toolCalls[0];
    const challengeScope = (firstTool && rules.get(firstTool.tool)?.useCases) || defaultUseCase;

    let grant: WritGrant;
    try {
      // Bearer or DPoP (RFC 9449); a DPoP proof must be for the endpoint's public URL, which is the resource.
      grant = await verifier.verifyRequest(request, { url: resource });
    } catch (error) {
      // Anything else is a bug or a broken dependency: the server's error handling answers it, never as a refusal.
      if (!(error instanceof WritVerifyError)) throw error;
      await onRefusal?.({ kind: "token", error });
      return refuse(error, challengeScope);
    }
    // Parsed again only to hand it on (usage reports, the SDK's authInfo): verifyRequest has accepted it.
    const { token } = readAuthorization(request.headers.get("authorization"));

    const allowed: Array<{ id: McpCall["id"]; tool: string; rule: ResolvedToolRule }> = [];
    for (const call of toolCalls) {
      const decision = decideToolCall(rules, call.tool, call.arguments, grant);
      if (decision.kind === "step_up") {
        // MCP step-up: 403 insufficient_scope naming the use case to ask for (Writ tokens carry exactly one).
        const [useCase = ""] = decision.useCases;
        await onRefusal?.({ kind: "step_up", tool: call.tool, useCase: grant.useCase, needed: decision.useCases });
        return refuse(new WritVerifyError("ERR_WRIT_SCOPE_INSUFFICIENT", `tool ${call.tool} needs ${decision.useCases.join(" or ")}`), [
          useCase,
        ]);
      }
      if (decision.kind === "deny") {
        await onRefusal?.({ kind: "denied", denial: decision.denial });
        return deniedToolResult(call.id, decision.denial, rules.get(call.tool)?.structuredDenials ?? true);
      }
      allowed.push({ id: call.id, tool: call.tool, rule: decision.rule });
    }

    const metered = allowed.filter((call) => call.rule.units !== undefined);
    const [meteredCall] = metered; // at most one: batchProblem refused more
    if (meteredCall !== undefined && spend !== undefined) {
      // The token's one report is claimed before the tool runs: a second call with it must not run uncounted.
      let first: boolean;
      try {
        first = await spend(grant.jti, grant.expiresAt);
      } catch {
        await onRefusal?.({ kind: "usage", tool: meteredCall.tool, outcome: "unavailable" });
        return usageUnavailable();
      }
      if (!first) {
        await onRefusal?.({ kind: "usage", tool: meteredCall.tool, outcome: "spent" });
        return spentToken(meteredCall.rule.useCases);
      }
    }

    const authInfo: McpAuthInfo = {
      token,
      clientId: grant.clientId,
      scopes: [grant.useCase],
      expiresAt: Math.floor(grant.expiresAt.getTime() / 1000),
      resource: new URL(resource),
      extra: { writ: grant },
    };
    let response = await next(request, { grant, authInfo });

    const listIds = calls.filter((c) => c.method === "tools/list").map((c) => c.id);
    if (toolsList === "usable" && listIds.length > 0) response = await hideUnusable(response, listIds, grant);

    if (report === undefined || metered.length === 0) return response;
    const read = await readMessages(response);
    for (const call of metered) {
      const result = toolResultFor(read.messages, call.id);
      // A failed call consumed nothing worth counting; the token's issuance already charged its full limits.
      if (result === undefined || result.isError === true || call.rule.units === undefined) continue;
      const outcome = await report(token, call.rule.units(result));
      if (outcome === "recorded") continue;
      await onRefusal?.({ kind: "usage", tool: call.tool, outcome });
      return outcome === "spent" ? spentToken(call.rule.useCases) : usageUnavailable();
    }
    return read.response;
  }

  /** A token pays for one metered call: one that already made it is spent, and the call refused before it runs. */
  function spentToken(scope: readonly string[]): Response {
    return refuse(new WritVerifyError("ERR_WRIT_TOKEN_INACTIVE", "token already reported for a metered call"), scope);
  }

  async function hideUnusable(response: Response, ids: ReadonlyArray<McpCall["id"]>, grant: WritGrant): Promise<Response> {
    return editMessages(response, (message) => {
      if (!ids.includes(message.id as McpCall["id"]) || !isObject(message.result) || !Array.isArray(message.result.tools)) return undefined;
      const tools = message.result.tools.filter((tool: unknown) => {
        const rule = isObject(tool) && typeof tool.name === "string" ? rules.get(tool.name) : undefined;
        return rule !== undefined && toolUsable(rule, grant);
      });
      return { ...message, result: { ...message.result, tools } };
    });
  }

  function metadataFor(request: Request): Response | undefined {
    if (request.method !== "GET" && request.method !== "HEAD") return undefined;
    const path = new URL(request.url).pathname;
    return path === paths.suffixed || path === paths.root ? metadataResponse(metadata) : undefined;
  }

  return Object.freeze({
    resource,
    metadataUrl: resourceMetadata,
    metadata,
    metadataFor,
    protect,
    handle: (request: Request, next: McpNext) => Promise.resolve(metadataFor(request) ?? protect(request, next)),
  });
}

function tooLarge(): Response {
  return Response.json({ error: "invalid_request", error_description: "request body too large" }, { status: 413 });
}

/** Reports are how budgets count real units: without one the call is withheld, as an online verifier fails closed. */
function usageUnavailable(): Response {
  return Response.json(
    { error: "temporarily_unavailable", error_description: "the token issuer cannot record this call's usage, try again later" },
    { status: 503, headers: { "Retry-After": "5", "Cache-Control": "no-store" } },
  );
}
