import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The environment variable that names the policy file for `npm start`, `npm run build`/`deploy` and `npm test`. */
export const POLICY_ENV = "WRIT_POLICY";
/**
 * Set by the scripts that hand the policy to wrangler as `--alias writ-policy:<path>` (start.ts, deploy.ts), to the
 * path they aliased: the `[build]` check then knows that the file it checks is the file wrangler bundles.
 */
export const POLICY_ALIASED_ENV = "WRIT_POLICY_ALIASED";

export type PolicyChoice = {
  /** Absolute path of the policy file. */
  path: string;
  /** Where the choice came from, for the banner and error messages. */
  source: "--policy" | typeof POLICY_ENV | "wrangler.toml";
};

/** A policy that cannot be found or would not be the one bundled: a user's mistake, reported in one line. */
export class PolicyPathError extends Error {}

/**
 * The policy file a command uses, decided here and nowhere else: `--policy <file>` (`flag`), else `WRIT_POLICY`,
 * else wrangler.toml's `[alias] "writ-policy"`. A relative path is relative to the working directory, as a shell
 * user expects. Throws `PolicyPathError` when the file does not exist, or when wrangler's `[build]` check runs under
 * a `wrangler` started directly with `WRIT_POLICY` set: wrangler would bundle wrangler.toml's file, not that one.
 *
 * @example resolvePolicyPath({ env: { WRIT_POLICY: "my.policy.json" } }) // { path: "/…/my.policy.json", source: "WRIT_POLICY" }
 */
export function resolvePolicyPath(
  options: { flag?: string | undefined; env?: NodeJS.ProcessEnv; cwd?: string; root?: string } = {},
): PolicyChoice {
  const { flag, env = process.env, cwd = process.cwd(), root = PROJECT_ROOT } = options;
  const fromEnv = env[POLICY_ENV] || undefined;
  const choice: PolicyChoice =
    flag !== undefined
      ? { path: resolve(cwd, flag), source: "--policy" }
      : fromEnv !== undefined
        ? { path: resolve(cwd, fromEnv), source: POLICY_ENV }
        : { path: policyPathFromWrangler(root), source: "wrangler.toml" };
  // WRANGLER_COMMAND is set by wrangler for its [build] command only.
  if (env.WRANGLER_COMMAND && choice.source === POLICY_ENV && env[POLICY_ALIASED_ENV] !== choice.path)
    throw new PolicyPathError(
      `${POLICY_ENV} is set but wrangler was started directly, so it would bundle the policy wrangler.toml names: use \`npm start\`, \`npm run build\` or \`npm run deploy\`, which pass ${POLICY_ENV} to wrangler as --alias`,
    );
  if (!existsSync(choice.path)) throw new PolicyPathError(`policy file not found: ${choice.path} (from ${choice.source})`);
  return choice;
}

/** The policy file named by wrangler.toml's `[alias] "writ-policy"`: the default when no flag or WRIT_POLICY chooses one. */
export function policyPathFromWrangler(root = PROJECT_ROOT): string {
  const toml = readFileSync(resolve(root, "wrangler.toml"), "utf8");
  const match = /^"writ-policy"\s*=\s*"([^"]+)"/m.exec(toml);
  if (!match?.[1]) throw new Error('wrangler.toml has no [alias] "writ-policy" = "<policy file>"');
  return resolve(root, match[1]);
}

/**
 * wrangler's arguments and environment that make it bundle `path` as the policy, and make its `[build]` check
 * (which reads WRIT_POLICY) check that same file.
 */
export function wranglerPolicyArgs(path: string): { args: string[]; env: Record<string, string> } {
  return { args: ["--alias", `writ-policy:${path}`], env: { [POLICY_ENV]: path, [POLICY_ALIASED_ENV]: path } };
}

/**
 * `wrangler <command> <args>` (start.ts, deploy.ts) bundling the policy at `path` (`wranglerPolicyArgs`), in the
 * project, on the user's terminal, with `env` laid over this process's environment. An interrupt or a kill of this
 * process is passed on to wrangler; what its exit means is the caller's.
 */
export function spawnWrangler(command: string, path: string, args: readonly string[], env: Record<string, string> = {}): ChildProcess {
  const aliased = wranglerPolicyArgs(path);
  const child = spawn(resolve(PROJECT_ROOT, "node_modules/.bin/wrangler"), [command, ...aliased.args, ...args], {
    cwd: PROJECT_ROOT,
    stdio: "inherit",
    env: { ...process.env, ...aliased.env, ...env },
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  return child;
}

/**
 * `writ policy check <path>` (the CLI's check: schema, cross-references, ReDoS, and no demo agent key unless
 * WRIT_ALLOW_DEMO_KEYS=1) before wrangler starts, so that a policy mistake is reported in its few lines and not
 * under wrangler's stack of a failed `[build]` step. Returns the check's exit status (0: the policy is fine).
 */
export function checkPolicyFile(path: string, env: Record<string, string> = {}): number {
  const check = spawnSync(process.execPath, [resolve(PROJECT_ROOT, "cli/writ.mjs"), "policy", "check", path], {
    cwd: PROJECT_ROOT,
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, ...env },
  });
  return check.status ?? 1;
}

/** `--policy <file>` / `--policy=<file>` taken out of `argv`; the other arguments are left for wrangler. */
export function takeOption(argv: readonly string[], name: string): { value: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let value: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i] ?? "";
    if (argument === `--${name}`) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) throw new PolicyPathError(`--${name} needs a value`);
      value = next;
      i++;
    } else if (argument.startsWith(`--${name}=`)) {
      value = argument.slice(name.length + 3);
    } else {
      rest.push(argument);
    }
  }
  return { value, rest };
}

/** A path as a user would type it: relative to the project when inside it, else absolute. */
export function displayPath(path: string, root = PROJECT_ROOT): string {
  const inside = relative(root, path);
  return inside !== "" && !inside.startsWith("..") && !isAbsolute(inside) ? inside : path;
}
