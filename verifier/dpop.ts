import type { AccessTokenClaims } from "../schemas/access-token.ts";
import { type DpopProofFailure, verifyDpopProof } from "../schemas/dpop.ts";
import { WritVerifyError } from "./errors.ts";
import type { ResolvedDpop } from "./options.ts";

/**
 * How the token reached the service. `scheme` is the `Authorization` scheme; with `DPoP` the request's proof
 * (the `DPoP` header, `null` when absent) and the method and URL it must be for.
 *
 * @example
 * const presentation: DpopPresentation = { scheme: "DPoP", proof: request.headers.get("DPoP"), method: request.method, url: request.url };
 */
export type DpopPresentation = { scheme: "Bearer" } | { scheme: "DPoP"; proof: string | null | undefined; method: string; url: string };

/**
 * RFC 9449 §7 at a protected resource: a bound token (`cnf.jkt`) needs scheme DPoP and a proof for this request,
 * signed by the bound key, carrying the token's hash, fresh, and not seen before. A token that is not bound passes
 * as Bearer unless the service requires DPoP. Throws a `WritVerifyError`; records the proof's `jti` only when all
 * else passed, so a refused proof leaves nothing behind.
 */
export async function checkDpopBinding(
  claims: AccessTokenClaims,
  token: string,
  presentation: DpopPresentation,
  dpop: ResolvedDpop,
  clockToleranceSeconds: number,
): Promise<void> {
  const bound = claims.cnf?.jkt;
  if (presentation.scheme === "Bearer") {
    // §7.2: a bound token sent as Bearer is exactly what a thief without the key would do.
    if (bound !== undefined) throw new WritVerifyError("ERR_WRIT_DPOP_REQUIRED", "DPoP-bound token (cnf.jkt) presented without DPoP");
    if (dpop.required) throw new WritVerifyError("ERR_WRIT_DPOP_REQUIRED", "this service requires DPoP-bound tokens");
    return;
  }
  if (bound === undefined) throw new WritVerifyError("ERR_WRIT_DPOP_BINDING_MISMATCH", "scheme DPoP with a token that is not DPoP-bound");
  const { proof } = presentation;
  if (proof === null || proof === undefined || proof === "") throw new WritVerifyError("ERR_WRIT_DPOP_PROOF_INVALID", "no DPoP header");
  // §4.3 point 1: one proof per request. fetch joins repeated headers with a comma, which a compact JWS never holds.
  if (proof.includes(",")) throw new WritVerifyError("ERR_WRIT_DPOP_PROOF_INVALID", "more than one DPoP header");
  const result = await verifyDpopProof(proof.trim(), {
    method: presentation.method,
    url: presentation.url,
    now: new Date(),
    accessToken: token,
    jkt: bound,
    algorithms: dpop.algorithms,
    maxAgeSeconds: dpop.maxAgeSeconds,
    clockToleranceSeconds,
  });
  if (!result.ok) throw proofRefusal(result.failure, result.detail);
  const { jkt, jti, expiresAt } = result.value;
  let firstUse: boolean;
  try {
    // Scoped by key: another key's proof with the same jti is another proof. Kept until the proof's last accepted
    // second has ended (`expiresAt` counts whole seconds, inclusive), so no instant accepts it without the store knowing it.
    firstUse = await dpop.replayStore.useOnce(`${jkt}:${jti}`, (expiresAt + 1) * 1000);
  } catch (cause) {
    throw new WritVerifyError("ERR_WRIT_DPOP_REPLAY_UNAVAILABLE", "the DPoP replay store did not answer", { cause });
  }
  if (!firstUse) throw new WritVerifyError("ERR_WRIT_DPOP_PROOF_REPLAYED", "DPoP proof jti already used");
}

function proofRefusal(failure: DpopProofFailure, detail: string | undefined): WritVerifyError {
  const message = detail === undefined ? `DPoP proof refused: ${failure}` : `DPoP proof refused: ${failure} (${detail})`;
  return new WritVerifyError(failure === "key_mismatch" ? "ERR_WRIT_DPOP_BINDING_MISMATCH" : "ERR_WRIT_DPOP_PROOF_INVALID", message);
}
