import type { Context } from "hono";
import type { Reason } from "../../core/refusals.ts";
import { BackchannelRequestSchema } from "../../schemas/token-request.ts";
import type { AppEnv } from "../app-env.ts";
import { openApproval } from "../approvals/open-approval.ts";
import { readConfig } from "../config.ts";
import { parseFormRequest } from "../http/parse-form-request.ts";
import { errorResponse } from "../http/wire-error.ts";
import { authScheme, grantContext, refusalFields } from "./route-context.ts";

/** POST /bc-authorize (OpenID CIBA §7): start a human approval for one use case. */
export async function backchannelRoute(c: Context<AppEnv>): Promise<Response> {
  const ctx = grantContext(c);
  const config = readConfig(c.env);
  const refuse = (reason: Reason): Response => {
    Object.assign(ctx.outcome, refusalFields(reason));
    return errorResponse(reason);
  };
  const parsed = await parseFormRequest(c.req.raw, BackchannelRequestSchema);
  if (!parsed.ok) return refuse(parsed.reason);
  const authorization = c.req.header("authorization");
  if (authorization !== undefined) return refuse({ code: "client_auth_method_unsupported", scheme: authScheme(authorization) });
  const opened = await openApproval(parsed.value, { ...ctx, approvalOrigin: config.approvalOrigin, mailFrom: config.approvalFrom });
  if (!opened.ok) return refuse(opened.reason);
  ctx.outcome.decision = "approval_requested";
  return c.json(opened.value, 200, { "Cache-Control": "no-store", Pragma: "no-cache" });
}
