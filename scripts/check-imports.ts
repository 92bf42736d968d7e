/**
 * npm run lint (second half): enforces the dependency rule of docs/architecture.md on every relative import,
 * type-only and dynamic ones included, and refuses import cycles between production files. A wrong import fails
 * the build, not a review.
 *
 *   node scripts/check-imports.ts          # exit 1 and one line per violation
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { PROJECT_ROOT } from "./policy-path.ts";

if (process.argv.includes("--help")) {
  console.log("usage: node scripts/check-imports.ts\nChecks the dependency rule (docs/architecture.md) and import cycles.");
  process.exit(0);
}

/** Which top-level folders each folder may import from (its own always allowed). */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  schemas: [],
  lib: ["schemas"],
  core: ["schemas", "lib"],
  "durable-objects": ["schemas", "lib", "core"],
  worker: ["schemas", "lib", "core", "durable-objects"],
  // What others install: their own code and the shapes only.
  verifier: ["schemas"],
  client: ["schemas"],
  examples: ["verifier", "client", "schemas"],
  // The command line: tooling, built on the core, the SDK and the verifier.
  cli: ["schemas", "lib", "core", "verifier", "client", "scripts"],
  // Tooling and tests may drive anything.
  scripts: ["schemas", "lib", "core", "durable-objects", "worker", "verifier", "client", "bench", "policy", "cli"],
  bench: ["schemas", "lib", "core", "durable-objects", "worker", "verifier", "client", "scripts", "policy"],
  test: ["schemas", "lib", "core", "durable-objects", "worker", "verifier", "client", "scripts", "examples", "bench", "policy", "cli"],
};
/** Folders whose files form the running broker and its libraries: no cycles allowed among them. */
const PRODUCTION = new Set(["schemas", "lib", "core", "durable-objects", "worker", "verifier", "client"]);
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^"';]*?\sfrom\s+)?["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|tsx|mts)$/.test(entry.name) ? [path] : [];
  });
}

const topOf = (file: string) => relative(PROJECT_ROOT, file).split("/")[0] ?? "";
const violations: string[] = [];
const graph = new Map<string, string[]>();

for (const top of Object.keys(ALLOWED)) {
  let files: string[];
  try {
    files = sourceFiles(join(PROJECT_ROOT, top));
  } catch {
    continue;
  }
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const targets: string[] = [];
    for (const match of text.matchAll(IMPORT)) {
      const spec = match[1] ?? match[2];
      if (!spec) continue;
      const target = resolve(dirname(file), spec);
      const targetTop = topOf(target);
      const allowed = targetTop === top || (ALLOWED[top] ?? []).includes(targetTop);
      if (!allowed)
        violations.push(`${relative(PROJECT_ROOT, file)}: imports ${relative(PROJECT_ROOT, target)} (${top} may not import ${targetTop})`);
      targets.push(target);
    }
    graph.set(file, targets);
  }
}

// Cycles among production files (type-only imports count: they still tie the modules' meanings together).
const state = new Map<string, "open" | "done">();
const stack: string[] = [];
function visit(file: string): void {
  state.set(file, "open");
  stack.push(file);
  for (const next of graph.get(file) ?? []) {
    if (!PRODUCTION.has(topOf(next)) || !graph.has(next)) continue;
    if (state.get(next) === "open") {
      const cycle = stack.slice(stack.indexOf(next)).map((f) => relative(PROJECT_ROOT, f));
      violations.push(`import cycle: ${[...cycle, relative(PROJECT_ROOT, next)].join(" → ")}`);
    } else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(file, "done");
}
for (const file of graph.keys()) if (PRODUCTION.has(topOf(file)) && !state.has(file)) visit(file);

if (violations.length > 0) {
  for (const violation of violations) console.error(violation);
  console.error(`${violations.length} import rule violation(s); see docs/architecture.md`);
  process.exit(1);
}
console.log(`imports: ${graph.size} files follow the dependency rule, no cycles`);
