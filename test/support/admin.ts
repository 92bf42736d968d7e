/** The admin's browser at the broker: the /admin page, its forms (with the Origin a browser adds), and signing in. */
import { exports } from "cloudflare:workers";
import { DEV_VARS } from "../../scripts/dev-vars.ts";
import { ISSUER } from "./assertions.ts";
import { formPost } from "./http.ts";
import { brokerGet } from "./requests.ts";

/** GET /admin on the whole broker (worker/app.ts), as a browser or script would send it. */
export async function adminPage(headers: Record<string, string> = {}): Promise<{ response: Response; html: string }> {
  const response = await brokerGet("/admin", {}, headers);
  return { response, html: await response.text() };
}

/** A form POST to the broker, with the Origin a browser adds (same-site unless told otherwise). */
export function postAdminForm(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return exports.default.fetch(`${ISSUER}${path}`, { ...formPost(fields, { origin: ISSUER, ...headers }), redirect: "manual" });
}

/** Signs in as a browser would and returns the `Cookie` header to send back. */
export async function signIn(): Promise<{ cookie: string; setCookie: string }> {
  const response = await postAdminForm("/admin/session", { token: DEV_VARS.ADMIN_TOKEN });
  const setCookie = response.headers.get("set-cookie") ?? "";
  if (response.status !== 303 || !setCookie) throw new Error(`sign-in failed: ${response.status}`);
  return { cookie: setCookie.split(";")[0] ?? "", setCookie };
}
