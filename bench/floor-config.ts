import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PROJECT_ROOT } from "../scripts/policy-path.ts";

/**
 * A wrangler config for the floor worker, written to a temporary folder, with the compatibility date and flags
 * copied from the broker's wrangler.toml: both run on the same workerd with the same settings, and the floor
 * never drifts when the broker's date moves. Kept out of the repository so no deploy can ever pick it up.
 */
export async function writeFloorConfig(): Promise<{ configPath: string; dispose: () => Promise<void> }> {
  const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
  const { workerOptions } = unstable_getMiniflareWorkerOptions(resolve(PROJECT_ROOT, "wrangler.toml"));
  const { compatibilityDate, compatibilityFlags = [] } = workerOptions as { compatibilityDate?: string; compatibilityFlags?: string[] };
  if (compatibilityDate === undefined) throw new Error("wrangler.toml has no compatibility_date to copy to the floor worker");
  const dir = await mkdtemp(join(tmpdir(), "writ-bench-floor-"));
  const configPath = join(dir, "wrangler.toml");
  const toml = [
    `name = "writ-bench-floor"`,
    `main = ${JSON.stringify(resolve(PROJECT_ROOT, "bench/floor-worker.ts"))}`,
    `compatibility_date = ${JSON.stringify(compatibilityDate)}`,
    `compatibility_flags = ${JSON.stringify(compatibilityFlags)}`,
    "",
    "[[durable_objects.bindings]]",
    `name = "FLOOR_LEDGER"`,
    `class_name = "FloorLedger"`,
    "",
    "[[migrations]]",
    `tag = "v1"`,
    `new_sqlite_classes = ["FloorLedger"]`,
    "",
  ].join("\n");
  await writeFile(configPath, toml);
  return { configPath, dispose: () => rm(dir, { recursive: true, force: true }) };
}
