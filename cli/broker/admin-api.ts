import { Failure, messageOf } from "../framework/io.ts";

/** What the broker answered, with the request id an admin finds the audit record by. */
export type AdminReply = { status: number; body: unknown; requestId: string | undefined; response: Response };

/**
 * One call to the broker's admin API (`/admin/*`, Authorization: Bearer ADMIN_TOKEN). A refusal becomes a
 * `Failure` naming the status, the broker's error and its request id; an unreachable broker says which URL.
 *
 * @example
 * const { body } = await adminCall(issuer, token, "POST", "/admin/agents/support-bot/disable");
 */
export async function adminCall(
  issuer: string,
  token: string,
  method: "GET" | "POST",
  path: string,
  options: { stream?: boolean } = {},
): Promise<AdminReply> {
  const url = `${issuer}${path}`;
  // The admin token rules the kill switch and the audit trail: never sent in clear text beyond this machine.
  if (!sendsSecretsSafely(issuer))
    throw new Failure(`refusing to send the admin token to ${issuer} without TLS (use https://, or localhost)`);
  let response: Response;
  try {
    response = await fetch(url, { method, headers: { authorization: `Bearer ${token}`, accept: "application/json" }, redirect: "manual" });
  } catch (error) {
    throw new Failure(
      `could not reach the broker at ${url}: ${messageOf((error as { cause?: unknown }).cause ?? error)} (is it running? is --issuer right?)`,
    );
  }
  const requestId = response.headers.get("x-request-id") ?? undefined;
  if (response.ok && options.stream) return { status: response.status, body: undefined, requestId, response };
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text for the message
  }
  if (!response.ok) throw new Failure(refusalLine(response.status, body, requestId));
  return { status: response.status, body, requestId, response };
}

function refusalLine(status: number, body: unknown, requestId: string | undefined): string {
  const fields = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const error = typeof fields.error === "string" ? fields.error : undefined;
  const description = typeof fields.error_description === "string" ? fields.error_description : undefined;
  const said = [error, description].filter(Boolean).join(": ") || (typeof body === "string" ? body.slice(0, 200) : "");
  const hint =
    status === 401
      ? " (check WRIT_ADMIN_TOKEN: it must equal the broker's ADMIN_TOKEN secret)"
      : status === 503 && error !== undefined
        ? " (the broker has no ADMIN_TOKEN or Access admin configured)"
        : "";
  return `the broker refused (${status}${said ? ` ${said}` : ""})${hint}${requestId === undefined ? "" : `; request id ${requestId}`}`;
}

/** https, or plain http to this machine (the local dev broker). */
export function sendsSecretsSafely(issuer: string): boolean {
  const url = new URL(issuer);
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
}
