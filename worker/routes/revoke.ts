import type { Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import { readConfig } from "../config.ts";
import { readForm } from "../http/read-form.ts";
import { authenticateCaller } from "../http/service-auth.ts";
import { activeKeys } from "../tokens/signing-keys.ts";
import { verifyIssuedToken } from "../tokens/verify-issued-token.ts";
import { oauthRefusal } from "./oauth-refusal.ts";

/**
 * POST /revoke (RFC 7009): the token stops being active at /introspect until it expires. Answers 200 for
 * unknown or invalid tokens too (§2.2), so the endpoint cannot be used to test tokens.
 */
export async function revokeRoute(c: Context<AppEnv>): Promise<Response> {
  const caller = await authenticateCaller(c.env, c.req.header("authorization"));
  if (!caller) return oauthRefusal(c, 401, "invalid_client", "revocation needs a service credential or the admin token");
  const form = await readForm(c.req.raw);
  if (!form.ok) return oauthRefusal(c, 400, "invalid_request", "form body required");
  const token = form.value.single.token;
  if (!token) return oauthRefusal(c, 400, "invalid_request", 'parameter "token" is required');
  const hint = form.value.single.token_type_hint;
  if (hint !== undefined && hint !== "access_token")
    return oauthRefusal(c, 400, "unsupported_token_type", "only access tokens can be revoked");

  const config = readConfig(c.env);
  const claims = await verifyIssuedToken(token, await activeKeys(c.env, config), config.issuer, new Date());
  if (claims && (caller.kind === "admin" || claims.aud === caller.audience)) {
    await c.env.AGENT_LEDGER.getByName(claims.sub).revoke(claims.jti, Date.now());
    Object.assign(c.get("outcome"), { decision: "revoked", agent: claims.sub, token_jti: claims.jti, by: caller.kind });
  }
  return c.body(null, 200, { "Cache-Control": "no-store" });
}
