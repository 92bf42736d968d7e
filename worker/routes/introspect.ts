import type { Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import { note } from "../audit/note.ts";
import { activePolicy } from "../policy/active-policy.ts";
import { readCallerToken } from "./caller-token.ts";

const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" };

/**
 * POST /introspect (RFC 7662) for services that must honour revocation and the kill switch between expiries.
 * A token is active only if the broker issued it, it has not expired, it was not revoked, and its agent is
 * enabled and was not disabled after it was issued. A service sees only tokens issued for it.
 */
export async function introspectRoute(c: Context<AppEnv>): Promise<Response> {
  const call = await readCallerToken(c, "introspection");
  if (call instanceof Response) return call;
  const { claims } = call;
  if (!claims) {
    note(c, { active: false });
    return c.json({ active: false }, 200, NO_STORE);
  }
  // The policy can retire an agent too (a deploy), not only the kill switch.
  if (activePolicy.agents.get(claims.sub)?.status !== "active") {
    note(c, { agent: claims.sub, token_jti: claims.jti, active: false, reason: "agent_disabled_by_policy" });
    return c.json({ active: false }, 200, NO_STORE);
  }
  const status = await c.env.AGENT_LEDGER.getByName(claims.sub).tokenStatus(claims.jti, claims.iat);
  note(c, {
    agent: claims.sub,
    token_jti: claims.jti,
    active: status.active,
    reason: status.active ? undefined : status.reason,
  });
  if (!status.active) return c.json({ active: false }, 200, NO_STORE);
  // RFC 9449 §6.2: a bound token is `token_type: "DPoP"`, and its `cnf.jkt` (among the claims) is what the service checks proofs against.
  return c.json({ active: true, token_type: claims.cnf === undefined ? "Bearer" : "DPoP", ...claims }, 200, NO_STORE);
}
