import type { RequestedGrant } from "../../schemas/approval.ts";
import { sha256 } from "./secrets.ts";

/**
 * SHA-256 over a canonical JSON form of the request (keys sorted, arrays of names sorted, no whitespace):
 * two requests that would yield the same token hash the same, and any difference shows. This is what an
 * approval is bound to, and what the token carries as `approval.request_hash`.
 */
export function requestHash(grant: RequestedGrant): Promise<string> {
  return sha256(canonicalJson({ ...grant, actions: [...grant.actions].sort(), locations: [...grant.locations].sort() }));
}

/** JSON with object keys in code-point order at every depth (the ordering rule of RFC 8785). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
