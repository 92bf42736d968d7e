import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { DEV_VARS } from "./scripts/dev-vars.ts";
import { resolvePolicyPath } from "./scripts/policy-path.ts";

export default defineConfig({
  test: {
    // The broker logs one JSON line per request; show them only for failing tests, or all of them for CI's secrets scan.
    silent: testLogs(),
    // One fast-check seed for every property of test/fuzz in this run (test/support/fuzz.ts reads it).
    provide: { fuzzSeed: fuzzSeed() },
    projects: [
      {
        // Everything that needs the Workers runtime: routes, Durable Objects, attacks, the verifier.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            // The pool runs the broker's requests inside a Durable Object, where one request's promise cannot wake
            // another's, so each token request calls its ledger alone here; test/e2e/ledger-batching.test.ts runs
            // the batched path in a real workerd broker.
            miniflare: { bindings: { ...DEV_VARS, LEDGER_BATCHING: "off" } },
          }),
        ],
        // WRIT_POLICY runs the suite against another policy, as it starts and deploys the broker with one.
        resolve: { alias: { "writ-policy": resolvePolicyPath().path } },
        test: {
          name: "workers",
          // The first request of a file loads the whole worker in a fresh isolate; on a busy 2-core CI machine that can take seconds.
          testTimeout: 30_000,
          include: [
            "test/{worker,durable-objects,attacks,verifier,approvals,audit,admin,client}/**/*.test.ts",
            "test/fuzz/worker/**/*.test.ts",
          ],
        },
      },
      {
        // The pure core and its helpers: plain data in, a result out, so plain Node runs them in about a second.
        test: {
          name: "core",
          environment: "node",
          // Pure functions keep no state between files, so the files can share one module graph (zod loads once).
          isolate: false,
          include: ["test/{core,lib}/**/*.test.ts", "test/fuzz/{core,verifier}/**/*.test.ts"],
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

/**
 * `WRIT_TEST_LOGS=all` (.ci/run) prints every log line, passing tests' too, so that scripts/scan-secrets.ts reads
 * all the broker ever logged; unset, only failing tests' logs are shown. Any other value is a typo: fail loudly.
 */
function testLogs(): "passed-only" | false {
  const value = process.env.WRIT_TEST_LOGS;
  if (value === undefined || value === "") return "passed-only";
  if (value === "all") return false;
  throw new Error(`WRIT_TEST_LOGS must be "all" or unset, not ${JSON.stringify(value)}`);
}

/**
 * FUZZ_SEED replays a run; without it every run draws a new seed. Printed either way, so that a red run can be replayed.
 * vitest evaluates this file more than once in a run: the first evaluation hands its seed to the others through the
 * environment, and only it prints.
 */
function fuzzSeed(): number {
  const given = process.env.FUZZ_SEED;
  if (given !== undefined && given !== "" && !/^-?\d{1,10}$/.test(given))
    throw new Error(`FUZZ_SEED must be an integer, not ${JSON.stringify(given)}`);
  const seed = given ? Number(given) | 0 : Math.floor(Math.random() * 0x7fffffff);
  if (process.env.WRIT_FUZZ_SEED_SHOWN !== String(seed))
    console.info(`fuzz seed ${seed} (replay: FUZZ_SEED=${seed} npx vitest run test/fuzz)`);
  process.env.FUZZ_SEED = String(seed);
  process.env.WRIT_FUZZ_SEED_SHOWN = String(seed);
  return seed;
}
