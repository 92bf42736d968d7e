import type { Context } from "hono";
import { BackchannelRequestSchema } from "../../schemas/token-request.ts";
import type { AppEnv } from "../app-env.ts";
import { openApproval } from "../approvals/open-approval.ts";
import { note } from "../audit/note.ts";
import { parseFormRequest } from "../http/parse-form-request.ts";
import { refuse } from "../http/refuse.ts";
import { configOf } from "../http/request-context.ts";
import { authScheme, grantContext } from "./route-context.ts";

/** POST /bc-authorize (OpenID CIBA §7): start a human approval for one use case. */
export async function backchannelRoute(c: Context<AppEnv>): Promise<Response> {
  note(c, { event: "ciba_request" });
  const config = configOf(c);
  const parsed = await parseFormRequest(c.req.raw, BackchannelRequestSchema);
  if (!parsed.ok) return refuse(c, parsed.reason);
  const authorization = c.req.header("authorization");
  if (authorization !== undefined) return refuse(c, { code: "client_auth_method_unsupported", scheme: authScheme(authorization) });
  const ctx = { ...grantContext(c, "ciba_request"), approvalOrigin: config.approvalOrigin, mailFrom: config.approvalFrom };
  const opened = await openApproval(parsed.value, ctx);
  note(c, opened.facts);
  c.get("auditExtras").push(...(opened.extras ?? []));
  if (!opened.ok) return refuse(c, opened.reason);
  note(c, { decision: "approval_requested" });
  return c.json(opened.value, 200, { "Cache-Control": "no-store", Pragma: "no-cache" });
}
