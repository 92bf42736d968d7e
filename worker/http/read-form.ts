import { fail, ok, type Result } from "../../core/refusals.ts";

/** Small on purpose: a token request is a few assertions and short strings, and a body cap stops memory abuse. */
export const MAX_FORM_BYTES = 16 * 1024;

/** Parameters that RFC 8707 / RFC 8693 let a client repeat; Writ then refuses them with invalid_target, not invalid_request. */
const REPEATABLE = new Set(["resource", "audience"]);

export type FormParams = { single: Record<string, string>; repeated: Record<string, string[]> };

/**
 * Reads an application/x-www-form-urlencoded body with a hard size cap (counted while streaming, so a lying
 * Content-Length cannot get past it) and rejects repeated parameters (RFC 6749 §3.1, §3.2).
 */
export async function readForm(request: Request, maxBytes = MAX_FORM_BYTES): Promise<Result<FormParams>> {
  const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return fail({ code: "unsupported_content_type" });
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) return fail({ code: "body_too_large", limitBytes: maxBytes });

  const text = await readCapped(request, maxBytes);
  if (text === undefined) return fail({ code: "body_too_large", limitBytes: maxBytes });
  if (text === null) return fail({ code: "malformed_body" });

  const single: Record<string, string> = Object.create(null);
  const repeated: Record<string, string[]> = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    if (name in single) {
      if (!REPEATABLE.has(name)) return fail({ code: "duplicate_parameter", parameter: name });
      repeated[name] = [...(repeated[name] ?? [single[name] as string]), value];
    } else {
      single[name] = value;
    }
  }
  return ok({ single, repeated });
}

/** The body as text, counted while streaming: undefined when over the cap, null when not UTF-8. */
export async function readCapped(request: Request, maxBytes: number): Promise<string | undefined | null> {
  if (!request.body) return "";
  const bytes = await readBytes(request, request.body, maxBytes);
  if (bytes === undefined) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return null;
  }
}

/**
 * With a Content-Length within the cap, HTTP framing already bounds the body, so it is read in one native call (a
 * stream read loop costs more CPU than the rest of the form's handling). A body longer than it declared (possible
 * only in-process, never over HTTP) is refused like an oversized one. Without a length (chunked), bytes are counted
 * as they arrive and reading stops at the cap.
 */
async function readBytes(request: Request, body: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array | undefined> {
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d{1,10}$/.test(declared) && Number(declared) <= maxBytes) {
    const bytes = new Uint8Array(await request.arrayBuffer());
    return bytes.byteLength > Number(declared) ? undefined : bytes;
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
