import type { WritVerifyError, WritVerifyErrorCode } from "./errors.ts";
import { misuse } from "./options.ts";

/**
 * RFC 6750 §3.1 error codes, RFC 9449 §7.1's `invalid_dpop_proof`, plus a 503 for when the issuer's keys, its
 * introspection answer or the DPoP replay store cannot be had (not the caller's fault).
 */
export type BearerErrorCode = "invalid_request" | "invalid_token" | "insufficient_scope" | "invalid_dpop_proof" | "temporarily_unavailable";

/**
 * The HTTP answer to a refused token: status, JSON body and headers, with an RFC 6750 §3 `WWW-Authenticate`
 * challenge on 400, 401 and 403 (and, when the service accepts DPoP, an RFC 9449 §7.1 `DPoP` challenge beside it).
 *
 * @example
 * const refusal = bearerRefusal(error, { realm: "https://crm.example.com", scope: ["crm.customers.read"] });
 * return Response.json(refusal.body, { status: refusal.status, headers: refusal.headers });
 */
export type BearerRefusal = {
  status: 400 | 401 | 403 | 503;
  /** `error` is absent when the request had no token: RFC 6750 §3.1 asks for a bare challenge then. */
  body: { error?: BearerErrorCode; error_description: string };
  headers: Record<string, string>;
};

/** RFC 9110 §5.6.4 quoted-string content we can emit without escaping: printable ASCII except `"` and `\`. */
const QUOTABLE = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;

type Wire = { status: BearerRefusal["status"]; error?: BearerErrorCode; description: string; dpop?: true };

const invalidToken = (description: string): Wire => ({ status: 401, error: "invalid_token", description });

/**
 * The one place a refusal reason becomes a wire answer. Descriptions are fixed text per code: they help an honest
 * agent's developer (expired? wrong service?) without echoing anything from the token or the log detail.
 */
function toWire(code: WritVerifyErrorCode): Wire {
  switch (code) {
    case "ERR_WRIT_TOKEN_MISSING":
      return { status: 401, description: "a Writ access token is required (Authorization: Bearer <token>)" };
    case "ERR_WRIT_AUTHORIZATION_MALFORMED":
      return { status: 400, error: "invalid_request", description: "the Authorization header must hold exactly one Bearer token" };
    case "ERR_WRIT_TOKEN_MALFORMED":
      return invalidToken("the access token is malformed");
    case "ERR_WRIT_ALG_NOT_ALLOWED":
      return invalidToken("the access token is signed with an algorithm this service does not accept");
    case "ERR_WRIT_SIGNATURE_INVALID":
      return invalidToken("the access token signature is invalid");
    case "ERR_WRIT_KEY_UNKNOWN":
      return invalidToken("the access token is signed with a key the issuer does not publish");
    case "ERR_WRIT_TYP_INVALID":
      return invalidToken("the token is not an access token (typ must be at+jwt)");
    case "ERR_WRIT_ISSUER_INVALID":
      return invalidToken("the access token is from another issuer");
    case "ERR_WRIT_AUDIENCE_INVALID":
      return invalidToken("the access token is for another service");
    case "ERR_WRIT_EXPIRED":
      return invalidToken("the access token has expired");
    case "ERR_WRIT_NOT_YET_VALID":
      return invalidToken("the access token is not valid yet");
    case "ERR_WRIT_CLAIMS_INVALID":
      return invalidToken("the access token claims are invalid");
    // RFC 9449 §7.1: these answer on the DPoP challenge, which tells the agent which proof algorithms to use.
    case "ERR_WRIT_DPOP_REQUIRED":
      return { ...invalidToken("a DPoP-bound access token is required, sent as Authorization: DPoP with a DPoP proof"), dpop: true };
    case "ERR_WRIT_DPOP_BINDING_MISMATCH":
      return { ...invalidToken("the access token is not bound to the key of the DPoP proof"), dpop: true };
    case "ERR_WRIT_DPOP_PROOF_INVALID":
      return { status: 401, error: "invalid_dpop_proof", description: "the DPoP proof is missing or invalid for this request", dpop: true };
    case "ERR_WRIT_DPOP_PROOF_REPLAYED":
      return { status: 401, error: "invalid_dpop_proof", description: "the DPoP proof was already used", dpop: true };
    case "ERR_WRIT_DPOP_REPLAY_UNAVAILABLE":
      return {
        status: 503,
        error: "temporarily_unavailable",
        description: "the service cannot check DPoP proofs for replay, try again later",
      };
    case "ERR_WRIT_SCOPE_INSUFFICIENT":
      return { status: 403, error: "insufficient_scope", description: "the access token is for another use case" };
    // A valid token this service will not take: the agent must come with a token it got itself (or a shorter chain).
    case "ERR_WRIT_DELEGATION_REFUSED":
      return { status: 403, error: "insufficient_scope", description: "this service does not accept this delegated access token (act)" };
    case "ERR_WRIT_TOKEN_INACTIVE":
      return invalidToken("the access token is no longer active");
    case "ERR_WRIT_JWKS_UNAVAILABLE":
      return { status: 503, error: "temporarily_unavailable", description: "the token issuer's keys are unavailable, try again later" };
    // Fail closed: a token the service must check online and cannot is refused, but as the service's problem, not the agent's.
    case "ERR_WRIT_INTROSPECTION_UNAVAILABLE":
      return {
        status: 503,
        error: "temporarily_unavailable",
        description: "the token issuer cannot confirm the access token is still active, try again later",
      };
    default: {
      const unhandled: never = code;
      throw new TypeError(`Writ verifier: unhandled code ${String(unhandled)}`);
    }
  }
}

/**
 * @example
 * const options: ChallengeOptions = { realm: "https://crm.example.com", dpop: verifier.dpop, resourceMetadata: "https://crm.example.com/.well-known/oauth-protected-resource" };
 */
export type ChallengeOptions = {
  realm: string;
  /** The use cases the route accepts, named in an `insufficient_scope` challenge. */
  scope?: readonly string[];
  /** RFC 9728 §5.1: the URL of this resource's protected-resource metadata, as `resource_metadata="…"` on each challenge. */
  resourceMetadata?: string;
  /**
   * RFC 9449 §7.1: the service accepts DPoP (pass `verifier.dpop`). A `DPoP algs="…"` challenge is then offered
   * beside the Bearer one, or alone when `required`; the error goes on the challenge of the scheme the request used.
   */
  dpop?: { required: boolean; algorithms: readonly string[] };
};

/**
 * Turns a `WritVerifyError` into an RFC 6750 (and RFC 9449 §7.1) answer, for services on any framework (the Hono
 * middleware uses it too). `realm`, `scope` and `resourceMetadata` must be quotable (no `"` or `\`); `writAuth`
 * checks that once at creation.
 *
 * @example
 * catch (error) {
 *   if (!(error instanceof WritVerifyError)) throw error;
 *   const { status, body, headers } = bearerRefusal(error, { realm: "https://crm.example.com" });
 *   return Response.json(body, { status, headers });
 * }
 */
export function bearerRefusal(error: WritVerifyError, options: ChallengeOptions): BearerRefusal {
  checkQuotable(options.realm, "realm");
  if (options.scope !== undefined) checkQuotable(options.scope.join(" "), "scope");
  if (options.resourceMetadata !== undefined) checkQuotable(options.resourceMetadata, "resourceMetadata");
  if (options.dpop !== undefined) checkQuotable(options.dpop.algorithms.join(" "), "dpop.algorithms");
  const wire = toWire(error.code);
  const body =
    wire.error === undefined ? { error_description: wire.description } : { error: wire.error, error_description: wire.description };
  // A 503 is about the service's own dependency; a challenge would tell the agent to fix a token that is fine.
  if (wire.status === 503) return { status: wire.status, body, headers: { "Retry-After": "5" } };

  const offerDpop = options.dpop !== undefined || wire.dpop === true;
  const offerBearer = options.dpop?.required !== true;
  // The error belongs to the scheme the agent used (or the DPoP one for a DPoP problem); the other challenge stays bare.
  const errorOnDpop = offerDpop && (wire.dpop === true || error.scheme === "DPoP" || !offerBearer);
  const challenges: string[] = [];
  if (offerBearer) challenges.push(challenge("Bearer", wire, options, !errorOnDpop));
  if (offerDpop) challenges.push(challenge("DPoP", wire, options, errorOnDpop));
  return { status: wire.status, body, headers: { "WWW-Authenticate": challenges.join(", ") } };
}

function challenge(scheme: "Bearer" | "DPoP", wire: Wire, options: ChallengeOptions, withError: boolean): string {
  const params = [`realm="${options.realm}"`];
  if (scheme === "DPoP" && options.dpop !== undefined) params.push(`algs="${options.dpop.algorithms.join(" ")}"`);
  if (withError && wire.error !== undefined) {
    params.push(`error="${wire.error}"`, `error_description="${wire.description}"`);
    // RFC 6750 §3: tell the agent which use case to ask for instead.
    if (wire.error === "insufficient_scope" && options.scope !== undefined) params.push(`scope="${options.scope.join(" ")}"`);
  }
  if (options.resourceMetadata !== undefined) params.push(`resource_metadata="${options.resourceMetadata}"`);
  return `${scheme} ${params.join(", ")}`;
}

/** Header injection guard: a realm or scope with a quote would let its text escape into other challenge parameters. */
export function checkQuotable(value: string, name: string): void {
  if (typeof value !== "string" || !QUOTABLE.test(value)) throw misuse(`${name} must be printable ASCII without " or \\`);
}
