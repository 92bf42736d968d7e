/**
 * The MCP middleware (`createMcpAuth`) as Hono handlers: the protected-resource metadata and the MCP endpoint.
 *
 * @example
 * const auth = createMcpAuth({ verifier, tools });
 * app.get("/.well-known/oauth-protected-resource/*", writMcpMetadata(auth));
 * app.all("/mcp", writMcp(auth, (request, { authInfo }) => transport.handleRequest(request, { authInfo })));
 */
import type { Context, Handler } from "hono";
// For its `ContextVariableMap` augmentation: `c.var.writ` is the same grant type as with `writAuth`.
import type {} from "./hono.ts";
import type { McpAuth, McpAuthContext } from "./mcp.ts";
import { misuse } from "./options.ts";

/** The MCP server's own handling of an authorized request (e.g. the SDK transport's `handleRequest`). */
export type WritMcpHandler = (request: Request, context: McpAuthContext, c: Context) => Promise<Response>;

/** Serves the metadata (RFC 9728) at whichever of its two paths the route matched; any other path falls through. */
export function writMcpMetadata(auth: McpAuth): Handler {
  checkAuth(auth);
  return async function writMcpMetadataHandler(c, next) {
    const metadata = auth.metadataFor(c.req.raw);
    if (metadata !== undefined) return metadata;
    await next();
  };
}

/** The MCP endpoint: authorizes each request as `McpAuth.protect` does and sets `c.var.writ` before `handler` runs. */
export function writMcp(auth: McpAuth, handler: WritMcpHandler): Handler {
  checkAuth(auth);
  if (typeof handler !== "function") throw misuse("writMcp needs a handler for authorized requests");
  return function writMcpHandler(c) {
    return auth.protect(c.req.raw, (request, context) => {
      c.set("writ", context.grant);
      return handler(request, context, c);
    });
  };
}

function checkAuth(auth: McpAuth): void {
  if (typeof auth !== "object" || auth === null || typeof auth.protect !== "function") throw misuse("pass the result of createMcpAuth()");
}
