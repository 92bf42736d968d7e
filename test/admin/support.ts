import { exports } from "cloudflare:workers";
import { ISSUER } from "../support/broker.ts";

export const ADMIN_BEARER = { authorization: "Bearer dev-admin-token" } as const;

/** GET /admin on the whole broker (worker/app.ts), as a browser or script would send it. */
export async function adminPage(headers: Record<string, string> = {}): Promise<{ response: Response; html: string }> {
  const response = await exports.default.fetch(`${ISSUER}/admin`, { headers });
  return { response, html: await response.text() };
}

/** A form POST to the broker, with the Origin a browser adds (same-site unless told otherwise). */
export function postAdminForm(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return exports.default.fetch(`${ISSUER}${path}`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: ISSUER, ...headers },
    body: new URLSearchParams(fields),
  });
}

/** Signs in as a browser would and returns the `Cookie` header to send back. */
export async function signIn(): Promise<{ cookie: string; setCookie: string }> {
  const response = await postAdminForm("/admin/session", { token: "dev-admin-token" });
  const setCookie = response.headers.get("set-cookie") ?? "";
  if (response.status !== 303 || !setCookie) throw new Error(`sign-in failed: ${response.status}`);
  return { cookie: setCookie.split(";")[0] ?? "", setCookie };
}
