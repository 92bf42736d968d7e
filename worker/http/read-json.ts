import type { Reason } from "../../core/refusals.ts";
import { parseJson } from "../../lib/json.ts";
import { readCapped } from "./read-form.ts";

export type JsonBody = { ok: true; value: unknown } | { ok: false; reason: Reason };

/**
 * Reads an application/json body with a hard size cap (counted while streaming, like forms): the one JSON-body
 * reader of the broker. The caller's schema then decides whether the value is what it wants.
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<JsonBody> {
  const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json") return { ok: false, reason: { code: "json_content_type_required" } };
  if (Number(request.headers.get("content-length") ?? "0") > maxBytes)
    return { ok: false, reason: { code: "json_body_unreadable", limitBytes: maxBytes } };
  const text = await readCapped(request, maxBytes);
  if (typeof text !== "string") return { ok: false, reason: { code: "json_body_unreadable", limitBytes: maxBytes } };
  const parsed = parseJson(text);
  return parsed.ok ? parsed : { ok: false, reason: { code: "json_body_malformed" } };
}
