import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { DEV_VARS } from "./scripts/dev-vars.ts";
import { policyPathFromWrangler } from "./scripts/policy-path.ts";

export default defineConfig({
  test: {
    // The broker logs one JSON line per request; show them only for failing tests.
    silent: "passed-only",
    projects: [
      {
        // Everything that needs the Workers runtime: routes, Durable Objects, attacks, the verifier.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: { ...DEV_VARS } },
          }),
        ],
        resolve: { alias: { "writ-policy": policyPathFromWrangler() } },
        test: {
          name: "workers",
          // The first request of a file loads the whole worker in a fresh isolate; on a busy 2-core CI machine that can take seconds.
          testTimeout: 30_000,
          include: ["test/{worker,durable-objects,attacks,verifier,approvals,audit,admin}/**/*.test.ts"],
        },
      },
      {
        // The pure core and its helpers: plain data in, a result out, so plain Node runs them in about a second.
        test: {
          name: "core",
          environment: "node",
          // Pure functions keep no state between files, so the files can share one module graph (zod loads once).
          isolate: false,
          include: ["test/{core,lib}/**/*.test.ts"],
        },
      },
      {
        // A real broker started from Node and driven by real OAuth client libraries.
        test: {
          name: "e2e",
          environment: "node",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
