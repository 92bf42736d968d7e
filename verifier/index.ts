/**
 * Downstream verification of Writ access tokens (RFC 9068 profile), offline against the broker's JWKS, and
 * optionally online against its `/introspect` (RFC 7662) for revocation and the kill switch (`introspection` option).
 * Depends only on jose and zod, so it runs on Workers, Node, Deno and Bun. Hono users: `@writ/verifier/hono`.
 * DPoP-bound tokens (RFC 9449 `cnf.jkt`) need the request: `verifyRequest(request)` checks the `DPoP` proof too.
 *
 * @example
 * import { createVerifier, WritVerifyError } from "@writ/verifier";
 *
 * const verifier = createVerifier({ issuer: "https://writ.example.com", audience: "https://crm.example.com" });
 * const grant = await verifier.verifyRequest(request, { scope: "crm.customers.read" }); // or verify(token, …) for Bearer only
 * const maxRows = grant.limits.max_rows; // enforce it: a missing limit must not read as "unlimited"
 * if (typeof maxRows !== "number" || rows > maxRows) return new Response("over the granted limit", { status: 403 });
 */
export { DPOP_ALGORITHMS, DPOP_PROOF_MAX_AGE_SECONDS } from "../schemas/dpop.ts";
export { type PresentedToken, readAuthorization, readBearerToken } from "./bearer.ts";
export { type BearerErrorCode, type BearerRefusal, bearerRefusal, type ChallengeOptions } from "./challenge.ts";
export { createVerifier, type Verifier, type VerifyOptions, type VerifyRequestOptions, type WritGrant } from "./create-verifier.ts";
export { DEFAULT_MEMORY_REPLAY_CAPACITY, type DpopReplayStore, memoryDpopReplayStore } from "./dpop-replay-store.ts";
export { WritVerifyError, type WritVerifyErrorCode } from "./errors.ts";
export {
  DEFAULT_ALGORITHMS,
  DEFAULT_INTROSPECTION_CACHE_SECONDS,
  DEFAULT_JWKS_CACHE_MAX_AGE_MS,
  type DelegationOptions,
  type DpopOptions,
  type IntrospectionFetch,
  type IntrospectionOptions,
  type JwksFetch,
  MAX_INTROSPECTION_CACHE_SECONDS,
  VERIFIER_ALGORITHMS,
  type VerifierAlgorithm,
  type VerifierOptions,
} from "./options.ts";
