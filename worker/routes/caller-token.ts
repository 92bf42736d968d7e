import type { Context } from "hono";
import type { AccessTokenClaims } from "../../schemas/access-token.ts";
import type { AppEnv } from "../app-env.ts";
import { readForm } from "../http/read-form.ts";
import { refuse } from "../http/refuse.ts";
import { configOf, nowOf } from "../http/request-context.ts";
import { authenticateCaller, type Caller } from "../http/service-auth.ts";
import { activeKeys } from "../tokens/signing-keys.ts";
import { verifyIssuedToken } from "../tokens/verify-issued-token.ts";

export type CallerToken = {
  caller: Caller;
  params: Record<string, string>;
  /** Set only for a live token of this broker that the caller may see: the admin sees all, a service its own. */
  claims: AccessTokenClaims | undefined;
};

/**
 * The common start of /introspect and /revoke (RFC 7662 §2.1, RFC 7009 §2.1): an authorised caller, a form with
 * a `token` parameter, and that token checked. A refusal comes back as the response to send.
 */
export async function readCallerToken(c: Context<AppEnv>, endpoint: "introspection" | "revocation"): Promise<Response | CallerToken> {
  const caller = await authenticateCaller(configOf(c), c.req.header("authorization"));
  if (!caller) return refuse(c, { code: "invalid_client", endpoint });
  const form = await readForm(c.req.raw);
  if (!form.ok) return refuse(c, { code: "form_body_required" });
  const token = form.value.single.token;
  if (!token) return refuse(c, { code: "missing_parameter", parameter: "token" });
  const config = configOf(c);
  const claims = await verifyIssuedToken(token, await activeKeys(c.env, config), config.issuer, nowOf(c));
  const visible = claims !== undefined && (caller.kind === "admin" || claims.aud === caller.audience);
  return { caller, params: form.value.single, claims: visible ? claims : undefined };
}
