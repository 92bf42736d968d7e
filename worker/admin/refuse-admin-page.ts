import type { Context } from "hono";
import type { Reason } from "../../core/refusals.ts";
import type { AppEnv } from "../app-env.ts";
import { note } from "../audit/note.ts";
import { refusalFields } from "../http/refuse.ts";
import { toWire } from "../http/wire-error.ts";
import { renderAdminProblem } from "../pages/admin-page.tsx";

/**
 * The HTML side of the refusal funnel for the admin page's forms: the same record as `refuse` (the reason, with
 * its private detail, via `refusalFields`), the same status and public description as the JSON API's wire map, and
 * the request id the admin can look up; answered as a page with a way back instead of a JSON body.
 */
export function refuseAdminPage(c: Context<AppEnv>, reason: Reason): Response {
  note(c, refusalFields(reason));
  const wire = toWire(reason);
  const requestId = c.get("requestId") as string | undefined;
  const page = renderAdminProblem({ status: wire.status, message: wire.error_description ?? "The request was refused.", requestId });
  return c.html(page.html, page.status, requestId ? { "X-Request-Id": requestId } : {});
}
