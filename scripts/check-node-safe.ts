/**
 * npm run lint (last step): the test folders that vitest runs in plain Node (the `core` and `e2e` projects) must
 * load nothing that needs workerd. A `cloudflare:*` module, worker/, durable-objects/ or the HTMLRewriter global
 * reached through any chain of imports (test/support included) is a test that fails to load, or fails later,
 * under Node.
 *
 *   node scripts/check-node-safe.ts        # exit 1 and one line per violation
 */
import { globSync, readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { PROJECT_ROOT } from "./policy-path.ts";

if (process.argv.includes("--help")) {
  console.log(
    "usage: node scripts/check-node-safe.ts\nChecks that test/core, test/lib, test/e2e and test/fuzz/{core,verifier} (run in plain Node) never load workerd-only code.",
  );
  process.exit(0);
}

/** The folders of vitest's Node projects (vitest.config.ts). */
const NODE_TESTS = ["test/core", "test/lib", "test/e2e", "test/fuzz/core", "test/fuzz/verifier"];
/** Folders whose code needs the Workers runtime (bindings, Durable Objects, HTMLRewriter, text-module assets). */
const WORKERD_ONLY = new Set(["worker", "durable-objects"]);
/**
 * Imports that load a module. `import type` and `export type` are erased; `import { type A } from` is not
 * (verbatimModuleSyntax keeps it as `import {} from`), so it counts.
 */
const VALUE_IMPORT = /(?:^|[\s;])(?:import|export)\s+(?!type\s)(?:[^"';]*?\sfrom\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
const WORKERD_GLOBAL = /\bnew\s+HTMLRewriter\b/;

const path = (file: string) => relative(PROJECT_ROOT, file);
const topOf = (file: string) => path(file).split("/")[0] ?? "";

/** Breadth first from every Node test, so each violation is reported once, with the shortest chain that reaches it. */
const reachedFrom = new Map<string, string | undefined>();
const queue = NODE_TESTS.flatMap((dir) => globSync(`${dir}/**/*.{ts,tsx,mts}`, { cwd: PROJECT_ROOT })).map((file) =>
  resolve(PROJECT_ROOT, file),
);
for (const file of queue) reachedFrom.set(file, undefined);

function chainTo(file: string): string {
  const chain: string[] = [];
  for (let at: string | undefined = file; at !== undefined; at = reachedFrom.get(at)) chain.unshift(path(at));
  return chain.join(" → ");
}

const violations: string[] = [];
for (const file of queue) {
  const text = readFileSync(file, "utf8");
  if (WORKERD_GLOBAL.test(text)) violations.push(`${chainTo(file)}: uses HTMLRewriter, which plain Node does not have`);
  for (const match of text.matchAll(VALUE_IMPORT)) {
    const spec = match[1] ?? match[2] ?? "";
    if (spec.startsWith("cloudflare:")) violations.push(`${chainTo(file)}: imports ${spec}, which plain Node cannot load`);
    // Packages come from node_modules; JSON and text assets import nothing further.
    if (!spec.startsWith(".") || !/\.(ts|tsx|mts)$/.test(spec)) continue;
    const target = resolve(dirname(file), spec);
    if (WORKERD_ONLY.has(topOf(target))) violations.push(`${chainTo(file)}: imports ${path(target)}, which needs the Workers runtime`);
    else if (!reachedFrom.has(target)) {
      reachedFrom.set(target, file);
      queue.push(target);
    }
  }
}

if (violations.length > 0) {
  for (const violation of violations) console.error(violation);
  console.error(`${violations.length} Node-safety violation(s); workerd-only helpers are listed in test/support/README.md`);
  process.exit(1);
}
console.log(`node-safe: ${queue.length} files loaded by the Node tests need no workerd`);
