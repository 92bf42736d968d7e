import type { Context } from "hono";
import type { Reason, Result } from "../../core/refusals.ts";
import { GRANT_TYPE, type TokenRequest, TokenRequestSchema } from "../../schemas/token-request.ts";
import type { AppEnv } from "../app-env.ts";
import { cibaGrant } from "../grants/ciba-grant.ts";
import type { GrantContext } from "../grants/grant-context.ts";
import type { Issued } from "../grants/issue-token.ts";
import { useCaseGrant } from "../grants/use-case-grant.ts";
import { parseFormRequest } from "../http/parse-form-request.ts";
import { errorResponse } from "../http/wire-error.ts";
import { authScheme, grantContext, issuedFields, refusalFields } from "./route-context.ts";

const GRANTS: Record<string, (request: TokenRequest, ctx: GrantContext) => Promise<Result<Issued>>> = {
  [GRANT_TYPE.tokenExchange]: useCaseGrant,
  [GRANT_TYPE.clientCredentials]: useCaseGrant,
  [GRANT_TYPE.ciba]: cibaGrant,
};

/** POST /token (RFC 6749 §3.2): token exchange, client_credentials and the CIBA poll, each for exactly one use case. */
export async function tokenRoute(c: Context<AppEnv>): Promise<Response> {
  const ctx = grantContext(c);
  const refuse = (reason: Reason): Response => {
    Object.assign(ctx.outcome, refusalFields(reason));
    return errorResponse(reason);
  };

  const parsed = await parseFormRequest(c.req.raw, TokenRequestSchema);
  if (!parsed.ok) return refuse(parsed.reason);
  const request = parsed.value;
  ctx.outcome.grant_type = request.grant_type;
  const authorization = c.req.header("authorization");
  if (authorization !== undefined) return refuse({ code: "client_auth_method_unsupported", scheme: authScheme(authorization) });
  const grant = Object.hasOwn(GRANTS, request.grant_type) ? GRANTS[request.grant_type] : undefined;
  if (!grant) return refuse({ code: "unsupported_grant_type", grantType: request.grant_type });

  const issued = await grant(request, ctx);
  if (!issued.ok) return refuse(issued.reason);
  Object.assign(ctx.outcome, { ...issuedFields(issued.value.jti), expires_in: issued.value.response.expires_in });
  return c.json(issued.value.response, 200, { "Cache-Control": "no-store", Pragma: "no-cache" });
}
