/**
 * A service as its author would write it: the Hono middleware, a verifier per isolate, and DPoP proofs remembered in
 * a Durable Object so that a replay is refused by every isolate and after a restart. `POST /replay-store` exposes
 * the store itself, so the test can race it.
 */
import { Hono } from "hono";
import { DpopReplayDurableObject, durableObjectDpopReplayStore } from "../../../verifier/dpop-replay-durable-object.ts";
import { writAuth } from "../../../verifier/hono.ts";
import { createVerifier, type Verifier } from "../../../verifier/index.ts";

export { DpopReplayDurableObject };

type Env = { WRIT_ISSUER: string; AUDIENCE: string; DPOP_REQUIRED?: string; DPOP_REPLAY: DurableObjectNamespace };

let app: Hono | undefined;

function build(env: Env): Hono {
  const replayStore = durableObjectDpopReplayStore(env.DPOP_REPLAY);
  const verifier: Verifier = createVerifier({
    issuer: env.WRIT_ISSUER,
    audience: env.AUDIENCE,
    dpop: { replayStore, required: env.DPOP_REQUIRED === "true" },
  });
  const hono = new Hono();
  hono.get("/customers", writAuth({ verifier, scope: "crm.customers.read" }), (c) =>
    c.json({ agent: c.var.writ.agent, jkt: c.var.writ.claims.cnf?.jkt ?? null }),
  );
  hono.post("/replay-store", async (c) => {
    const { key, expiresAt } = await c.req.json<{ key: string; expiresAt: number }>();
    return c.json({ firstUse: await replayStore.useOnce(key, expiresAt) });
  });
  return hono;
}

export default {
  fetch(request: Request, env: Env): Response | Promise<Response> {
    app ??= build(env);
    return app.fetch(request, env);
  },
};
