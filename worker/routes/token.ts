import type { Context } from "hono";
import { checkTokenRequestProof } from "../../core/dpop/token-request-proof.ts";
import { GRANT_TYPE, type TokenRequest, TokenRequestSchema } from "../../schemas/token-request.ts";
import type { AppEnv } from "../app-env.ts";
import { note } from "../audit/note.ts";
import { cibaGrant } from "../grants/ciba-grant.ts";
import type { GrantContext, GrantOutcome } from "../grants/grant-context.ts";
import type { Issued } from "../grants/issue-token.ts";
import { useCaseGrant } from "../grants/use-case-grant.ts";
import { parseFormRequest } from "../http/parse-form-request.ts";
import { refuse } from "../http/refuse.ts";
import { configOf, nowOf } from "../http/request-context.ts";
import { authScheme, grantContext } from "./route-context.ts";

const GRANTS: Record<string, (request: TokenRequest, ctx: GrantContext) => Promise<GrantOutcome<Issued>>> = {
  [GRANT_TYPE.tokenExchange]: useCaseGrant,
  [GRANT_TYPE.clientCredentials]: useCaseGrant,
  [GRANT_TYPE.ciba]: cibaGrant,
};

/**
 * POST /token (RFC 6749 §3.2): token exchange, client_credentials and the CIBA poll, each for exactly one use case.
 * With a `DPoP` proof (RFC 9449) the token is bound to the proof's key: `token_type: "DPoP"` and `cnf.jkt`.
 */
export async function tokenRoute(c: Context<AppEnv>): Promise<Response> {
  note(c, { event: "token_request" });

  const parsed = await parseFormRequest(c.req.raw, TokenRequestSchema);
  if (!parsed.ok) return refuse(c, parsed.reason);
  const request = parsed.value;
  // A CIBA poll is its own kind of audit event: the agent collecting what humans approved.
  const event = request.grant_type === GRANT_TYPE.ciba ? "ciba_poll" : "token_request";
  note(c, { grant_type: request.grant_type, event });
  const authorization = c.req.header("authorization");
  if (authorization !== undefined) return refuse(c, { code: "client_auth_method_unsupported", scheme: authScheme(authorization) });
  const grant = Object.hasOwn(GRANTS, request.grant_type) ? GRANTS[request.grant_type] : undefined;
  if (!grant) return refuse(c, { code: "unsupported_grant_type", grantType: request.grant_type });

  // RFC 9449 §5: checked before anything else is spent; its jti is burnt by the ledger only with the token it yields.
  const proof = await checkTokenRequestProof(c.req.raw.headers.get("dpop"), configOf(c).tokenEndpoint, nowOf(c));
  if (!proof.ok) return refuse(c, proof.reason);
  const ctx = grantContext(c, event);
  if (proof.value !== undefined) ctx.dpop = proof.value;

  const issued = await grant(request, ctx);
  note(c, issued.facts);
  if (!issued.ok) return refuse(c, issued.reason);
  return c.json(issued.value.response, 200, { "Cache-Control": "no-store", Pragma: "no-cache" });
}
