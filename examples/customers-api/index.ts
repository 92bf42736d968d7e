// The customers API as a Worker: `wrangler dev -c examples/customers-api/wrangler.toml` (see README.md).
import type { Hono } from "hono";
import { createVerifier } from "../../verifier/index.ts";
import { createCustomersApp } from "./app.ts";

export type CustomersEnv = {
  /** The Writ broker's issuer URL, e.g. http://localhost:8787 in local dev. */
  WRIT_ISSUER: string;
  /** This service's audience as the policy names it: https://crm.example.com. */
  AUDIENCE: string;
};

// One verifier per isolate, so its cached JWKS serves every request; rebuilt only if the configuration changes.
let cached: { key: string; app: Hono } | undefined;

function appFor(env: CustomersEnv): Hono {
  const key = `${env.WRIT_ISSUER}\n${env.AUDIENCE}`;
  if (cached?.key !== key) {
    // Bad configuration throws here (TypeError), so the Worker answers 500 and logs why instead of refusing every token.
    cached = { key, app: createCustomersApp(createVerifier({ issuer: env.WRIT_ISSUER, audience: env.AUDIENCE })) };
  }
  return cached.app;
}

export default {
  fetch(request, env, ctx) {
    return appFor(env).fetch(request, env, ctx);
  },
} satisfies ExportedHandler<CustomersEnv>;
