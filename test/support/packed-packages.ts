/**
 * Our packages as their users get them: `npm pack` of a package folder, the tarball installed into a scratch
 * project, and another Node on the machine to run the result with. Node-safe: the e2e tests use it.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { promisify } from "node:util";
import { PROJECT_ROOT } from "../../scripts/policy-path.ts";

const run = promisify(execFile);
/** One npm command (a pack with its prepack build, an install): generous, for a CI machine busy with other suites. */
const NPM_TIMEOUT_MS = 60_000;

export type PackedFile = { path: string; size: number };
/** What `npm pack --json` says of one package, and where its tarball is. */
export type PackResult = { filename: string; files: PackedFile[]; tarball: string };

/**
 * `npm pack ./<folder>` (its prepack builds `<folder>/dist`) into `destination`. The build is removed afterwards:
 * the tarball is what users get, and the build it came from is not left in the working tree (nor for the linter).
 */
export async function packPackage(folder: string, destination: string): Promise<PackResult> {
  const { stdout } = await run("npm", ["pack", `./${folder}`, "--json", "--pack-destination", destination], {
    cwd: PROJECT_ROOT,
    timeout: NPM_TIMEOUT_MS,
  });
  // npm prints the prepack build's output before the JSON.
  const [result] = JSON.parse(stdout.slice(stdout.indexOf("["))) as Omit<PackResult, "tarball">[];
  if (!result) throw new Error(`npm pack said nothing usable: ${stdout}`);
  rmSync(join(PROJECT_ROOT, folder, "dist"), { recursive: true, force: true });
  return { ...result, tarball: join(destination, result.filename) };
}

/** An ESM project in `dir` (created if missing) with `packages` installed: tarball paths or registry specs. */
export async function scratchProject(dir: string, packages: readonly string[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // npm wants a lower-case name; a mkdtemp folder's suffix has capitals.
  const name = `scratch-${basename(dir).toLowerCase()}`;
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, private: true, type: "module" }));
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...packages], { cwd: dir, timeout: NPM_TIMEOUT_MS });
}

/** A Node binary of the given major version: /usr/bin/node or any on PATH. */
function findNode(major: number): string | undefined {
  const candidates = new Set(["/usr/bin/node", "/usr/local/bin/node"]);
  try {
    for (const path of execFileSync("which", ["-a", "node"], { encoding: "utf8" }).split("\n")) if (path) candidates.add(path);
  } catch {
    // `which` found nothing on PATH.
  }
  for (const candidate of candidates) {
    try {
      const version = execFileSync(candidate, ["--version"], { encoding: "utf8" }).trim();
      if (version.startsWith(`v${major}.`)) return candidate;
    } catch {
      // Not there, or not runnable.
    }
  }
  return undefined;
}

/** The machine's Node 20, which the packages promise to run on (`engines`), or a failure that says none was found. */
export function node20OrFail(): string {
  const node20 = findNode(20);
  if (node20 === undefined) throw new Error("no Node 20 on this machine (looked at /usr/bin/node and every node on PATH)");
  return node20;
}

/**
 * `tsc` on one consumer file of a scratch project, as a user's strict TypeScript project checks it, the installed
 * packages' declarations included (skipLibCheck off). "ok", or what tsc printed.
 */
export async function typeCheck(
  dir: string,
  file: string,
  compiler: { module: "NodeNext" | "ESNext"; moduleResolution: "NodeNext" | "Bundler" },
  timeoutMs: number,
): Promise<string> {
  const tsconfig = {
    compilerOptions: { target: "ES2022", ...compiler, lib: ["ES2022", "DOM"], types: [], strict: true, noEmit: true, skipLibCheck: false },
    files: [file],
  };
  const name = `tsconfig.${compiler.moduleResolution}.json`;
  writeFileSync(join(dir, name), JSON.stringify(tsconfig));
  const tsc = join(PROJECT_ROOT, "node_modules/typescript/bin/tsc");
  return run(process.execPath, [tsc, "-p", name], { cwd: dir, timeout: timeoutMs }).then(
    () => "ok",
    (error: { stdout?: string }) => error.stdout ?? String(error),
  );
}
