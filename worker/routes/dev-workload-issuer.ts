import { Hono } from "hono";
import * as z from "zod";
import { DEV_WORKLOAD_KINDS, devWorkloadJwks, mintDevWorkloadToken } from "../../core/identity/federation-dev-issuer.ts";
import type { AppEnv } from "../app-env.ts";
import { configOf, nowOf } from "../http/request-context.ts";

const MintRequestSchema = z
  .object({
    kind: z.enum(DEV_WORKLOAD_KINDS),
    subject: z.string().min(1).max(256),
    audience: z.string().min(1).max(256).optional(),
  })
  .strict();

/**
 * The dev workload issuer (docs/workload-identity.md), for trying federated workload identity locally:
 * - `GET /dev/workload-issuer/jwks.json`: its public keys (the demo policy also lists them inline);
 * - `POST /dev/workload-issuer/token` with JSON `{ "kind": "github" | "kubernetes" | "spiffe", "subject": …,
 *   "audience"?: … }`: a token shaped like that platform's, `{ "token": "…" }`.
 * Mounted with `app.route("/dev/workload-issuer", devWorkloadIssuerRoutes())`; gated by the dev outbox's flag
 * (DEV_OUTBOX): outside local development both answer 404 exactly like an unknown endpoint.
 *
 * @example
 * const { token } = await (await fetch(`${broker}/dev/workload-issuer/token`, { method: "POST", body: JSON.stringify({ kind: "github", subject: "acme/deploy" }) })).json();
 */
export function devWorkloadIssuerRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use(async function devOnly(c, next) {
    if (!configOf(c).devOutbox) return c.notFound();
    await next();
  });
  routes.get("/jwks.json", (c) => c.json(devWorkloadJwks(), 200, { "Cache-Control": "max-age=60" }));
  routes.post("/token", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: "invalid_request", error_description: "send a JSON body" }, 400);
    }
    const parsed = MintRequestSchema.safeParse(body);
    if (!parsed.success)
      return c.json(
        { error: "invalid_request", error_description: `kind is one of ${DEV_WORKLOAD_KINDS.join(", ")}; subject is required` },
        400,
      );
    const { kind, subject, audience } = parsed.data;
    try {
      const token = await mintDevWorkloadToken(kind, subject, nowOf(c), audience);
      return c.json({ token }, 200, { "Cache-Control": "no-store" });
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      return c.json({ error: "invalid_request", error_description: error.message }, 400);
    }
  });
  return routes;
}
