import type { Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import { note } from "../audit/note.ts";
import { refuse } from "../http/refuse.ts";
import { nowOf } from "../http/request-context.ts";
import { readCallerToken } from "./caller-token.ts";

/**
 * POST /revoke (RFC 7009): the token stops being active at /introspect until it expires. Answers 200 for
 * unknown or invalid tokens too (§2.2), so the endpoint cannot be used to test tokens.
 */
export async function revokeRoute(c: Context<AppEnv>): Promise<Response> {
  const call = await readCallerToken(c, "revocation");
  if (call instanceof Response) return call;
  const hint = call.params.token_type_hint;
  if (hint !== undefined && hint !== "access_token") return refuse(c, { code: "token_type_hint_unsupported" });
  if (call.claims) {
    const { sub, jti } = call.claims;
    await c.env.AGENT_LEDGER.getByName(sub).revoke(jti, nowOf(c).getTime());
    note(c, { decision: "revoked", agent: sub, token_jti: jti, by: call.caller.kind });
  }
  return c.body(null, 200, { "Cache-Control": "no-store" });
}
