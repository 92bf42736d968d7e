/** The approver-facing routes in an app of their own, so that a test can set their options (Access keys, clock) and bindings. */
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { DEV_VARS } from "../../scripts/dev-vars.ts";
import type { AppEnv } from "../../worker/app-env.ts";
import { requestLog } from "../../worker/middleware/request-log.ts";
import { type ApprovalRoutesOptions, approvalRoutes } from "../../worker/routes/approvals.ts";
import { pageAssetRoutes } from "../../worker/routes/page-assets.ts";
import { type PasskeyEnrolmentOptions, passkeyEnrolmentRoutes } from "../../worker/routes/passkey-enrolment.ts";
import { formPost, jsonPost } from "./http.ts";
import { ADMIN_BEARER } from "./requests.ts";
import type { SoftAuthenticator } from "./soft-authenticator.ts";

/** APPROVAL_ORIGIN of the test bindings: WebAuthn needs a host name, not 127.0.0.1. */
export const ORIGIN = DEV_VARS.APPROVAL_ORIGIN;

/** The approver-facing routes mounted the way worker/app.ts mounts them, behind the request log. */
export function approverApp(options: ApprovalRoutesOptions & PasskeyEnrolmentOptions = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(requestLog());
  app.route("/approvals", approvalRoutes(options));
  app.route("/", passkeyEnrolmentRoutes({ isApprover: () => true, ...options }));
  app.route("/", pageAssetRoutes());
  return app;
}

export type Bindings = Cloudflare.Env;

export async function call(app: Hono<AppEnv>, path: string, init: RequestInit = {}, bindings: Bindings = env): Promise<Response> {
  return app.request(`${ORIGIN}${path}`, init, bindings);
}

export function postForm(
  app: Hono<AppEnv>,
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
  bindings: Bindings = env,
): Promise<Response> {
  return call(app, path, formPost(fields, headers), bindings);
}

export function postJson(
  app: Hono<AppEnv>,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
  bindings: Bindings = env,
): Promise<Response> {
  return call(app, path, jsonPost(body, headers), bindings);
}

/** An admin issues a link; the approver's browser fetches options, creates the passkey and completes. */
export async function enrolPasskey(
  app: Hono<AppEnv>,
  email: string,
  authenticator: SoftAuthenticator,
): Promise<{ token: string; completed: Response }> {
  const issued = await postJson(app, "/admin/approvers/enrolment-links", { email }, ADMIN_BEARER);
  if (issued.status !== 201) throw new Error(`enrolment link: ${issued.status} ${await issued.text()}`);
  const token = new URL((await issued.json<{ url: string }>()).url).searchParams.get("t") ?? "";
  const options = await postJson(app, "/enrol/options", { email, t: token });
  if (options.status !== 200) throw new Error(`enrol options: ${options.status} ${await options.text()}`);
  const response = await authenticator.register(await options.json());
  const completed = await postJson(app, "/enrol/complete", { email, t: token, response });
  return { token, completed };
}
