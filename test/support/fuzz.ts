/**
 * How every property in test/fuzz runs: from this vitest run's one seed (vitest.config.ts takes FUZZ_SEED or draws
 * one, and prints it at the start of every run), for a fixed number of generated cases. A failure reports the seed,
 * the shrunk counterexample and the command that replays it:
 *
 *   FUZZ_SEED=123456 npx vitest run test/fuzz/core/policy-decide.test.ts
 *
 * The same seed generates the same cases (the workerd properties also depend on the clock and on what earlier cases
 * left in the broker's storage, so a replay there finds the failure again, though not always in the same case).
 */
import fc from "fast-check";
import { expect, inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** fast-check's seed for every property of this run (vitest.config.ts). */
    fuzzSeed: number;
  }
}

/** The time a property may take on a busy CI machine; its case count, not this, is what keeps it short. */
export const PROPERTY_TIMEOUT_MS = 60_000;

/** `count` values of `arbitrary` drawn from this run's seed: fixtures that are costly to build once per case. */
export function samplesOf<T>(arbitrary: fc.Arbitrary<T>, count: number): T[] {
  return fc.sample(arbitrary, { seed: inject("fuzzSeed"), numRuns: count });
}

/** Runs `property` on exactly `numRuns` generated cases; throws the report of the first (shrunk) failure. */
export async function checkProperty<Ts>(property: fc.IRawProperty<Ts>, numRuns: number): Promise<void> {
  const seed = inject("fuzzSeed");
  const details = await fc.check(property, { seed, numRuns });
  if (details.failed) {
    const file = expect.getState().testPath ?? "test/fuzz";
    throw new Error(`${fc.defaultReportMessage(details)}\n\nreplay: FUZZ_SEED=${seed} npx vitest run ${file}`, {
      cause: details.errorInstance,
    });
  }
  // A property whose generator filtered most cases away would pass while testing nothing.
  expect({ ran: details.numRuns, skipped: details.numSkips }).toEqual({ ran: numRuns, skipped: 0 });
}
