/**
 * RFC 9728 protected-resource metadata for an MCP server, and the challenges that point agents at it (MCP
 * authorization: clients discover the authorization server from `resource_metadata` in `WWW-Authenticate`).
 */
import { type BearerRefusal, checkQuotable } from "./challenge.ts";

const WELL_KNOWN = "/.well-known/oauth-protected-resource";

/**
 * @example
 * { "resource": "http://localhost:8788/mcp", "authorization_servers": ["http://localhost:8787"],
 *   "scopes_supported": ["customers.query", "customers.export"], "bearer_methods_supported": ["header"] }
 */
export type ProtectedResourceMetadata = {
  resource: string;
  authorization_servers: string[];
  scopes_supported: string[];
  bearer_methods_supported: ["header"];
  resource_name?: string;
  resource_documentation?: string;
};

/**
 * The two addresses of the document: RFC 9728 §3.1's path-suffixed form (`/.well-known/oauth-protected-resource/mcp`
 * for `…/mcp`), which the challenges name, and the bare one, where MCP clients look when a challenge names none.
 */
export function metadataPaths(resource: URL): { suffixed: string; root: string } {
  const path = resource.pathname === "/" ? "" : resource.pathname.replace(/\/$/, "");
  return { suffixed: `${WELL_KNOWN}${path}`, root: WELL_KNOWN };
}

export function metadataUrl(resource: URL): string {
  return `${resource.origin}${metadataPaths(resource).suffixed}`;
}

/** The metadata answer; readable cross-origin, since browser-based MCP clients fetch it too. */
export function metadataResponse(metadata: ProtectedResourceMetadata): Response {
  return Response.json(metadata, {
    headers: { "Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*" },
  });
}

/**
 * MCP clients pick the scope to ask for from the challenge (MCP scope selection); RFC 6750 puts `scope` only on
 * `insufficient_scope`, so every other challenge gets it here, in each scheme's challenge (Bearer, and DPoP if offered).
 */
export function withScope(refusal: BearerRefusal, realm: string, scope: readonly string[]): BearerRefusal {
  const challenge = refusal.headers["WWW-Authenticate"];
  if (challenge === undefined || scope.length === 0 || /\bscope="/.test(challenge)) return refusal;
  checkQuotable(scope.join(" "), "scope");
  const value = challenge.replaceAll(`realm="${realm}"`, `realm="${realm}", scope="${scope.join(" ")}"`);
  return { ...refusal, headers: { ...refusal.headers, "WWW-Authenticate": value } };
}
