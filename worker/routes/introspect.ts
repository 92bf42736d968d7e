import type { Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import { readConfig } from "../config.ts";
import { readForm } from "../http/read-form.ts";
import { authenticateCaller } from "../http/service-auth.ts";
import { activePolicy } from "../policy/active-policy.ts";
import { activeKeys } from "../tokens/signing-keys.ts";
import { verifyIssuedToken } from "../tokens/verify-issued-token.ts";
import { oauthRefusal } from "./oauth-refusal.ts";

const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" };

/**
 * POST /introspect (RFC 7662) for services that must honour revocation and the kill switch between expiries.
 * A token is active only if the broker issued it, it has not expired, it was not revoked, and its agent is
 * enabled and was not disabled after it was issued. A service sees only tokens issued for it.
 */
export async function introspectRoute(c: Context<AppEnv>): Promise<Response> {
  const caller = await authenticateCaller(c.env, c.req.header("authorization"));
  if (!caller) return oauthRefusal(c, 401, "invalid_client", "introspection needs a service credential or the admin token");
  const form = await readForm(c.req.raw);
  if (!form.ok) return oauthRefusal(c, 400, "invalid_request", "form body required");
  const token = form.value.single.token;
  if (!token) return oauthRefusal(c, 400, "invalid_request", 'parameter "token" is required');

  const config = readConfig(c.env);
  const now = new Date();
  const claims = await verifyIssuedToken(token, await activeKeys(c.env, config), config.issuer, now);
  const outcome = c.get("outcome");
  if (!claims || (caller.kind === "service" && claims.aud !== caller.audience)) {
    outcome.active = false;
    return c.json({ active: false }, 200, NO_STORE);
  }
  // The policy can retire an agent too (a deploy), not only the kill switch.
  if (activePolicy.agents.get(claims.sub)?.status !== "active") {
    Object.assign(outcome, { agent: claims.sub, token_jti: claims.jti, active: false, reason: "agent_disabled_by_policy" });
    return c.json({ active: false }, 200, NO_STORE);
  }
  const status = await c.env.AGENT_LEDGER.getByName(claims.sub).tokenStatus(claims.jti, claims.iat);
  Object.assign(outcome, {
    agent: claims.sub,
    token_jti: claims.jti,
    active: status.active,
    reason: status.active ? undefined : status.reason,
  });
  if (!status.active) return c.json({ active: false }, 200, NO_STORE);
  return c.json({ active: true, token_type: "Bearer", ...claims }, 200, NO_STORE);
}
