/**
 * Builds the published package (`npm run build:client`, and `prepack` so a pack is never stale): tsc emits ESM and
 * .d.ts into dist/, then the declarations' relative `.ts` specifiers become `.js`. tsc rewrites them in the
 * JavaScript (rewriteRelativeImportExtensions) but not in declarations, and not every consumer's type checker
 * maps `./x.ts` to `./x.d.ts` the way TypeScript >= 5.7 does.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = dirname(fileURLToPath(import.meta.url));
const distDir = join(packageDir, "dist");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

rmSync(distDir, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", join(packageDir, "tsconfig.build.json")], { stdio: "inherit" });

const RELATIVE_TS_SPECIFIER = /(from\s+|import\(\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g;
for (const file of readdirSync(distDir)) {
  if (!file.endsWith(".d.ts")) continue;
  const path = join(distDir, file);
  const text = readFileSync(path, "utf8");
  const rewritten = text.replace(RELATIVE_TS_SPECIFIER, "$1$2$3.js$2");
  if (/["']\.{1,2}\/[^"']+\.ts["']/.test(rewritten)) throw new Error(`${file}: a relative .ts specifier is left after the rewrite`);
  if (rewritten !== text) writeFileSync(path, rewritten);
}
console.log(`@writ/agent built into ${distDir}`);
