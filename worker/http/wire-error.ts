import type { Reason } from "../../core/refusals.ts";
import { ADMIN_WIRE } from "./wire/admin-wire.ts";
import { CIBA_WIRE } from "./wire/ciba-wire.ts";
import { ENROLMENT_WIRE } from "./wire/enrolment-wire.ts";
import { HTTP_WIRE } from "./wire/http-wire.ts";
import { SERVICE_WIRE } from "./wire/service-wire.ts";
import { TOKEN_WIRE } from "./wire/token-wire.ts";
import type { WireError, WireMap } from "./wire/wire-map.ts";

export type { WireError } from "./wire/wire-map.ts";

/** Every family's map in one: a code missing from any family's map does not compile. */
const WIRE: WireMap<Reason> = { ...TOKEN_WIRE, ...CIBA_WIRE, ...SERVICE_WIRE, ...ENROLMENT_WIRE, ...ADMIN_WIRE, ...HTTP_WIRE };

/** The one mapping from a refusal reason to its wire form (status, RFC 6749 §5.2 body, headers). */
export function toWire(reason: Reason): WireError {
  // The map is keyed by code, so the entry always matches the reason; TypeScript cannot correlate the two unions.
  const entry = WIRE[reason.code] as (reason: Reason) => WireError;
  return entry(reason);
}

/**
 * The response for a refusal, with `Cache-Control: no-store` as RFC 6749 §5.1/§5.2 require for token responses
 * and as every refusal of the broker gets (nothing about a refusal should sit in a cache).
 */
export function errorResponse(reason: Reason): Response {
  const wire = toWire(reason);
  const headers = { ...wire.headers, "Cache-Control": "no-store", Pragma: "no-cache" };
  if (wire.error === undefined) return new Response(null, { status: wire.status, headers });
  return Response.json({ error: wire.error, error_description: wire.error_description }, { status: wire.status, headers });
}
