import type { Context } from "hono";
import type { AppEnv } from "../app-env.ts";

/** An RFC 6749 §5.2 error body for endpoints outside the token endpoint's reason map (introspection, revocation, usage). */
export function oauthRefusal(c: Context<AppEnv>, status: 400 | 401 | 403 | 404 | 409, error: string, description: string): Response {
  Object.assign(c.get("outcome"), { decision: "denied", reason: error });
  const headers: Record<string, string> = { "Cache-Control": "no-store" };
  if (status === 401) headers["WWW-Authenticate"] = 'Bearer realm="writ"';
  return c.json({ error, error_description: description }, status, headers);
}
