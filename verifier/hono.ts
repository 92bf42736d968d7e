/**
 * Hono middleware for Writ access tokens: verifies the Bearer or DPoP-bound token (with its DPoP proof), answers refusals the RFC 6750 way,
 * and hands the route a typed grant as `c.var.writ`.
 *
 * @example
 * app.get("/customers", writAuth({ verifier, scope: "crm.customers.read" }), (c) => c.json({ agent: c.var.writ.agent }));
 */
import type { Context, MiddlewareHandler } from "hono";
import { bearerRefusal, checkQuotable } from "./challenge.ts";
import type { Verifier, WritGrant } from "./create-verifier.ts";
import { WritVerifyError } from "./errors.ts";
import { misuse, requiredScopes } from "./options.ts";

declare module "hono" {
  interface ContextVariableMap {
    /** The verified grant, set by `writAuth` before the route runs. */
    writ: WritGrant;
  }
}

/**
 * @example
 * const options: WritAuthOptions = { verifier, scope: "crm.customers.read", onRefusal: (error) => console.warn(error.code) };
 */
export type WritAuthOptions = {
  verifier: Verifier;
  /** The use case this route needs; with several, any one of them. Required: there is no "any token will do". */
  scope: string | readonly string[];
  /** The `realm` of the challenge. Default: the verifier's audience. */
  realm?: string;
  /** RFC 9728 §5.1: this resource's protected-resource metadata URL, named in every challenge. */
  resourceMetadata?: string;
  /**
   * The URL the agent called, when `c.req.url` is not it (behind a proxy that rewrites the host): DPoP proofs are
   * signed for it. Default: the request's own URL.
   */
  publicUrl?: (c: Context) => string;
  /** Sees every refusal with its internal code and detail, for the service's audit log. Must not answer the request. */
  onRefusal?: (error: WritVerifyError, c: Context) => void | Promise<void>;
};

/**
 * Middleware that lets a request through only with a valid Writ token for one of `scope`'s use cases.
 * Missing credentials get a bare 401 challenge (Bearer and DPoP), a bad or replayed DPoP proof 401 `invalid_dpop_proof`, bad tokens (and, with an online verifier, revoked ones or those of
 * a disabled agent) 401 `invalid_token`, a token for another use case 403 `insufficient_scope`, a malformed header
 * 400 `invalid_request`, and an unreachable JWKS or `/introspect` 503 `temporarily_unavailable` with `Retry-After`.
 * Throws `TypeError` on bad options.
 *
 * @example
 * const verifier = createVerifier({ issuer: "https://writ.example.com", audience: "https://crm.example.com" });
 * app.use("/customers/*", writAuth({ verifier, scope: "crm.customers.read" }));
 * app.get("/customers", (c) => c.json({ limits: c.var.writ.limits }));
 * // A delegated token (docs/delegation.md): `agent` is who is acted for, `actors` who acts, nearest first.
 * app.get("/reports", (c) => c.json({ for: c.var.writ.agent, by: c.var.writ.actors[0] ?? c.var.writ.agent }));
 */
export function writAuth(options: WritAuthOptions): MiddlewareHandler {
  if (typeof options !== "object" || options === null) throw misuse("writAuth options must be an object");
  const { verifier, onRefusal } = options;
  if (typeof verifier !== "object" || verifier === null || typeof verifier.verify !== "function")
    throw misuse("writAuth needs a verifier from createVerifier()");
  const scope = requiredScopes(options.scope, "writAuth scope");
  const realm = options.realm ?? verifier.audience;
  if (realm.length === 0) throw misuse("realm must not be empty");
  checkQuotable(realm, "realm (pass one explicitly if the audience has quotes or backslashes)");
  if (onRefusal !== undefined && typeof onRefusal !== "function") throw misuse("onRefusal must be a function");
  const { resourceMetadata, publicUrl } = options;
  if (resourceMetadata !== undefined) checkQuotable(resourceMetadata, "resourceMetadata");
  if (publicUrl !== undefined && typeof publicUrl !== "function") throw misuse("publicUrl must be a function");
  if (typeof verifier.verifyRequest !== "function") throw misuse("writAuth needs a verifier from createVerifier()");

  return async function writAuthHandler(c, next) {
    let grant: WritGrant;
    try {
      grant = await verifier.verifyRequest(c.req.raw, publicUrl === undefined ? { scope } : { scope, url: publicUrl(c) });
    } catch (error) {
      // Anything else is a bug or a broken dependency: Hono's onError turns it into a 500, never into a refusal.
      if (!(error instanceof WritVerifyError)) throw error;
      await onRefusal?.(error, c);
      const refusal = bearerRefusal(error, {
        realm,
        scope,
        dpop: verifier.dpop,
        ...(resourceMetadata === undefined ? {} : { resourceMetadata }),
      });
      return c.json(refusal.body, refusal.status, refusal.headers);
    }
    c.set("writ", grant);
    await next();
  };
}
