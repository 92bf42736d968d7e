import { DPOP_ALGORITHMS, verifyDpopProof } from "../../schemas/dpop.ts";
import { fail, ok, type Result } from "../refusals.ts";

/**
 * A token request's checked DPoP proof: the key the token gets bound to (`cnf.jkt`, RFC 7638 thumbprint) and the
 * proof's use, in the shape the agent ledger burns (`jti` namespaced by key so it cannot collide with an assertion's,
 * `expiresAt` in epoch seconds).
 */
export type TokenRequestProof = { jkt: string; use: { jti: string; expiresAt: number } };

/** What discovery lists as `dpop_signing_alg_values_supported` (RFC 9449 §5.1). */
export const DPOP_SIGNING_ALGORITHMS: readonly string[] = DPOP_ALGORITHMS;

/**
 * RFC 9449 §4.3 at the token endpoint: at most one `DPoP` header, and its proof for `POST` to the token endpoint
 * URL, fresh, signed by the public key it carries. `ok(undefined)` without a header: the token is then a Bearer one.
 * Nonces are not used (§8 makes them optional): freshness is `iat` within a minute, and the ledger refuses a second
 * use of the proof's `jti` atomically with issuing the token. `header` is the `DPoP` field as fetch joins it.
 *
 * @example
 * const proof = await checkTokenRequestProof(request.headers.get("DPoP"), config.tokenEndpoint, now);
 */
export async function checkTokenRequestProof(
  header: string | null,
  tokenEndpoint: string,
  now: Date,
): Promise<Result<TokenRequestProof | undefined>> {
  if (header === null) return ok(undefined);
  // fetch joins repeated fields with ", "; a compact JWS never contains a comma.
  if (header.includes(",")) return fail({ code: "invalid_dpop_proof", failure: "several_headers" });
  const checked = await verifyDpopProof(header.trim(), { method: "POST", url: tokenEndpoint, now });
  if (!checked.ok) {
    // ath and the key binding are checks of a resource request; verifyDpopProof makes them only when asked.
    const failure =
      checked.failure === "ath_missing" || checked.failure === "ath_mismatch" || checked.failure === "key_mismatch"
        ? "claims_invalid"
        : checked.failure;
    return fail({ code: "invalid_dpop_proof", failure, ...(checked.detail === undefined ? {} : { detail: checked.detail }) });
  }
  const { jkt, jti, expiresAt } = checked.value;
  return ok({ jkt, use: { jti: dpopLedgerJti(jkt, jti), expiresAt } });
}

/** The ledger's replay key of a DPoP proof: its own namespace, per key (another key's proof with the same jti is another proof). */
export function dpopLedgerJti(jkt: string, jti: string): string {
  return `dpop:${jkt}:${jti}`;
}
