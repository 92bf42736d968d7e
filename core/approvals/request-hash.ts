import { canonicalJson } from "../../lib/canonical-json.ts";
import { sha256 } from "../../lib/crypto.ts";
import type { RequestedGrant } from "../../schemas/approval.ts";

/**
 * SHA-256 over a canonical JSON form of the request (keys sorted, arrays of names sorted, no whitespace):
 * two requests that would yield the same token hash the same, and any difference shows. This is what an
 * approval is bound to, and what the token carries as `approval.request_hash`.
 */
export function requestHash(grant: RequestedGrant): Promise<string> {
  return sha256(canonicalJson({ ...grant, actions: [...grant.actions].sort(), locations: [...grant.locations].sort() }));
}
