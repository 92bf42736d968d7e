/**
 * Builds the published package (`npm run build:verifier`, and `prepack` so a pack is never stale). tsc compiles from
 * the repository root (tsconfig.build.json: rootDir `..`) because the verifier checks claims with the zod schemas
 * of ../schemas, which stay the single source of truth: dist/verifier/* and the schemas it imports, dist/schemas/*.
 * Then the declarations' relative `.ts` specifiers become `.js`: tsc rewrites them in the JavaScript
 * (rewriteRelativeImportExtensions) but not in declarations, and not every consumer's type checker maps `./x.ts` to
 * `./x.d.ts` the way TypeScript >= 5.7 does. Last, what was emitted is checked against what a package may ship.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = dirname(fileURLToPath(import.meta.url));
const distDir = join(packageDir, "dist");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as {
  exports: Record<string, string | Record<string, string>>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
};

rmSync(distDir, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", join(packageDir, "tsconfig.build.json")], { stdio: "inherit" });

const emitted = readdirSync(distDir, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile())
  .map((entry) => relative(distDir, join(entry.parentPath, entry.name)));

// The dependency rule (docs/architecture.md) says the verifier imports schemas only; a package that pulled in
// lib/, core/ or worker/ would ship broker code, so that fails the build rather than the review.
for (const file of emitted)
  if (!/^(verifier|schemas)\/[\w-]+\.(js|d\.ts)$/.test(file)) throw new Error(`dist/${file}: only verifier/ and schemas/ may be packaged`);

const RELATIVE_TS_SPECIFIER = /(from\s+|import\(\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g;
for (const file of emitted.filter((f) => f.endsWith(".d.ts"))) {
  const path = join(distDir, file);
  const text = readFileSync(path, "utf8");
  const rewritten = text.replace(RELATIVE_TS_SPECIFIER, "$1$2$3.js$2");
  if (/["']\.{1,2}\/[^"']+\.ts["']/.test(rewritten)) throw new Error(`${file}: a relative .ts specifier is left after the rewrite`);
  if (rewritten !== text) writeFileSync(path, rewritten);
}

// Every package the output names must be one the manifest brings (or lets the user bring, for an optional peer).
const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
// Statements start a line (doc comments' examples start with " *"); `import("x")` types may sit anywhere in a .d.ts.
const BARE_SPECIFIER =
  /^(?:(?:import|export)\b[^;]*?\bfrom\s*|import\s*)["']([^"'./][^"']*)["']|\bimport\(\s*["']([^"'./][^"']*)["']\s*\)/gm;
for (const file of emitted) {
  for (const [, statement, typeImport] of readFileSync(join(distDir, file), "utf8").matchAll(BARE_SPECIFIER)) {
    const specifier = statement ?? typeImport ?? "";
    const name = specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : (specifier.split("/")[0] ?? "");
    if (!declared.has(name)) throw new Error(`dist/${file} imports ${specifier}, which package.json does not declare`);
  }
}
// Every entry point the manifest promises must exist: an export without its module fails only in the user's import.
for (const [entry, target] of Object.entries(manifest.exports))
  for (const path of typeof target === "string" ? [target] : Object.values(target))
    if (!existsSync(join(packageDir, path))) throw new Error(`package.json exports ${entry} as ${path}, which the build did not produce`);

console.log(`@writ/verifier built into ${distDir} (${emitted.length} files)`);
