/**
 * Starts a Worker from Node the way production runs it: the bundle `wrangler deploy --dry-run` writes (for the
 * broker, exactly what `npm run build` ships, policy check included), served by the workerd that wrangler itself
 * depends on, through Miniflare, with the bindings, compatibility date and flags wrangler reads from the config.
 * Used by the end-to-end tests and by `npm run bench`; never by `wrangler dev`, whose proxy would be measured too.
 *
 * @example
 * const broker = await startBroker();
 * await fetch(`${broker.url}/.well-known/jwks.json`);
 * await broker.restart(); // same port, same Durable Object storage
 * await broker.dispose();
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, join, matchesGlob, parse, resolve } from "node:path";
import { promisify } from "node:util";
import {
  convertV4MiniflareOptions,
  type Json,
  Miniflare,
  MiniflareCoreError,
  type V4ModuleDefinition,
  type V4ModuleRule,
  type V4ModuleRuleType,
  type WorkerdStructuredLog,
} from "miniflare";
import { DEV_VARS } from "./dev-vars.ts";
import { PROJECT_ROOT, resolvePolicyPath, wranglerPolicyArgs } from "./policy-path.ts";

const HOST = "127.0.0.1";
// Together well under vitest's e2e hookTimeout (120 s), so a stuck start fails here, with its reason.
const BUILD_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 15_000;
const LOG_WAIT_TIMEOUT_MS = 10_000;
/** A free port found by the OS can be taken by someone else before workerd binds it; try again with another. */
const PORT_ATTEMPTS = 3;

export type LocalWorkerOptions = {
  /** The wrangler config to build and run. Default: the project's wrangler.toml (the broker). */
  configPath?: string;
  /** Build-time module substitutions, as `wrangler --alias`: e.g. `{ "writ-policy": "/tmp/bench.policy.json" }`. */
  alias?: Readonly<Record<string, string>>;
  /** Vars and secrets on top of the config's, given the base URL the worker listens on. */
  bindings?: (url: string) => Record<string, Json>;
  /** Binding names from the config to leave out (e.g. a developer's `.dev.vars` secret). */
  omitBindings?: readonly string[];
  /** Keep every request's log line for `requestLog` (tests). Off for load runs, where it would grow without bound. */
  keepRequestLogs?: boolean;
  /** Opens workerd's V8 inspector on a free loopback port (CPU profiles, heap usage). */
  inspector?: boolean;
  /**
   * Serves the worker on its own workerd socket instead of behind Miniflare's entry worker, which rebuilds every
   * request and response on the way (as production has no such hop, benchmarks measure without it).
   */
  directSocket?: boolean;
};

export type LocalWorker = {
  /** The worker's base URL, e.g. `http://127.0.0.1:41237` (no trailing slash). */
  readonly url: string;
  /** workerd's own inspector (`/json` lists one target per worker), when started with `inspector: true`. */
  readonly inspectorUrl: string | undefined;
  /**
   * The request log line of one request, once workerd has written it (log lines travel over a pipe, so they
   * may arrive after the response). The request id is the `cf-ray` header the caller sent, which Cloudflare's
   * edge would set in production and the broker logs as `request_id`.
   */
  requestLog(requestId: string): Promise<Record<string, unknown>>;
  /** Stops workerd and starts the same bundle again on the same port and storage, as a redeploy would. */
  restart(): Promise<void>;
  /** Stops workerd and deletes the bundle and all stored state. Safe to call twice. */
  dispose(): Promise<void>;
};

export type Broker = LocalWorker;
export type BrokerOptions = Pick<LocalWorkerOptions, "alias" | "keepRequestLogs" | "inspector" | "directSocket">;

/**
 * The broker with the local-dev vars only: ISSUER is the address it really listens on, so agents sign for the
 * URL they call, and the generated dev key signs (a developer's `.dev.vars` SIGNING_KEYS must not replace it).
 */
export function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  return startLocalWorker({
    keepRequestLogs: true,
    ...options,
    omitBindings: ["SIGNING_KEYS"],
    bindings: (url) => ({ ...DEV_VARS, ISSUER: url }),
  });
}

/** Builds the bundle and starts it. Bounded in time: the build and the start each have a deadline. */
export async function startLocalWorker(options: LocalWorkerOptions = {}): Promise<LocalWorker> {
  const configPath = resolve(PROJECT_ROOT, options.configPath ?? "wrangler.toml");
  const keepRequestLogs = options.keepRequestLogs ?? true;
  const root = await mkdtemp(join(tmpdir(), "writ-local-"));
  const bundleDir = join(root, "bundle");
  const persistDir = join(root, "state");
  // The broker writes one JSON line per request (worker/middleware/request-log.ts), keyed here by its request_id.
  const requestLogs = new Map<string, Record<string, unknown>>();
  const waiters = new Map<string, (fields: Record<string, unknown>) => void>();
  let miniflare: Miniflare | undefined;

  const onLog = (log: WorkerdStructuredLog): void => {
    // Cheap test first: under load nearly every line is an info request log, and parsing each would cost the runner CPU.
    if (!keepRequestLogs && log.level !== "error" && !log.message.includes('"level":"error"') && process.env.WRIT_TEST_LOGS !== "all")
      return;
    const fields = parseJsonObject(log.message);
    // Unhandled errors would otherwise only surface as a bare 500 in the failing test.
    if (process.env.WRIT_TEST_LOGS === "all" || log.level === "error" || fields?.level === "error")
      process.stderr.write(`[worker] ${log.message}\n`);
    const requestId = fields?.request_id;
    if (!keepRequestLogs || fields === undefined || typeof requestId !== "string") return;
    requestLogs.set(requestId, fields);
    waiters.get(requestId)?.(fields);
  };

  try {
    const [, { unstable_getMiniflareWorkerOptions }] = await Promise.all([
      buildBundle(configPath, bundleDir, options.alias ?? {}),
      import("wrangler"),
    ]);
    const { workerOptions, main } = unstable_getMiniflareWorkerOptions(configPath);
    if (main === undefined) throw new Error(`${configPath} has no main: there is no worker to start`);
    const { modulesRules = [], ...workerConfig } = workerOptions;
    const modules = await bundleModules(bundleDir, `${parse(main).name}.js`, modulesRules);
    // (wrangler's options type loses its known keys under Omit<…>; `bindings` is the vars record the config declares.)
    const bindings = { ...((workerConfig.bindings ?? {}) as Record<string, Json>) };
    for (const name of options.omitBindings ?? []) delete bindings[name];
    const inspectorPort = options.inspector ? await freePort() : undefined;

    const launch = async (port: number): Promise<Miniflare> => {
      const url = `http://${HOST}:${port}`;
      const instance = new Miniflare(
        convertV4MiniflareOptions({
          ...workerConfig,
          modules,
          modulesRoot: bundleDir,
          bindings: { ...bindings, ...options.bindings?.(url) },
          host: HOST,
          ...(options.directSocket ? { port: 0, unsafeDirectSockets: [{ host: HOST, port }] } : { port }),
          ...(inspectorPort === undefined ? {} : { inspectorPort }),
          resourcePersistencePath: persistDir,
          handleStructuredLogs: onLog,
        }),
      );
      try {
        await withDeadline(instance.ready, READY_TIMEOUT_MS, "the worker did not start");
        return instance;
      } catch (error) {
        // Stops workerd; after a failed start, dispose() rejects with that same failure, which is thrown below.
        await instance.dispose().catch(() => undefined);
        throw error;
      }
    };

    let port = 0;
    for (let attempt = 1; miniflare === undefined; attempt++) {
      port = await freePort();
      try {
        miniflare = await launch(port);
      } catch (error) {
        const portTaken = error instanceof MiniflareCoreError && error.code === "ERR_ADDRESS_IN_USE";
        if (!portTaken || attempt >= PORT_ATTEMPTS) throw error;
      }
    }

    return {
      url: `http://${HOST}:${port}`,
      inspectorUrl: inspectorPort === undefined ? undefined : `http://${HOST}:${inspectorPort}`,
      requestLog(requestId) {
        if (!keepRequestLogs) return Promise.reject(new TypeError("started with keepRequestLogs: false"));
        const seen = requestLogs.get(requestId);
        if (seen) return Promise.resolve(seen);
        return withDeadline(
          new Promise<Record<string, unknown>>((done) => waiters.set(requestId, done)),
          LOG_WAIT_TIMEOUT_MS,
          `the worker logged nothing for request ${requestId}`,
        ).finally(() => waiters.delete(requestId));
      },
      async restart() {
        await miniflare?.dispose();
        miniflare = undefined;
        miniflare = await launch(port);
      },
      async dispose() {
        await miniflare?.dispose();
        miniflare = undefined;
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await miniflare?.dispose();
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

/** `wrangler deploy --dry-run`: for the broker exactly what `npm run build` ships, including the `[build]` policy check. */
async function buildBundle(configPath: string, outDir: string, alias: Readonly<Record<string, string>>): Promise<void> {
  const wrangler = resolve(PROJECT_ROOT, "node_modules/.bin/wrangler");
  // The broker's policy: the caller's alias, else WRIT_POLICY (`WRIT_POLICY=… npm test`), else wrangler.toml's. Passed
  // as wrangler.toml's [build] check expects it (scripts/policy-path.ts), so the file checked is the file bundled.
  const broker = configPath === resolve(PROJECT_ROOT, "wrangler.toml");
  const policy = broker ? wranglerPolicyArgs(alias["writ-policy"] ?? resolvePolicyPath().path) : { args: [], env: {} };
  const others = Object.entries(alias).filter(([module]) => !broker || module !== "writ-policy");
  const aliasArgs = [...policy.args, ...others.flatMap(([module, path]) => ["--alias", `${module}:${path}`])];
  try {
    await promisify(execFile)(wrangler, ["deploy", "--dry-run", "--config", configPath, "--outdir", outDir, ...aliasArgs], {
      cwd: PROJECT_ROOT,
      timeout: BUILD_TIMEOUT_MS,
      // Tests run the demo policy, whose agents' private keys are public: a real deploy refuses it, a test may not.
      env: { ...process.env, ...policy.env, WRIT_ALLOW_DEMO_KEYS: "1", WRANGLER_SEND_METRICS: "false" },
    });
  } catch (error) {
    // execFile's error carries the child's output. The policy check reports on stdout ([custom build] lines).
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    const output = `${stdout}\n${stderr.slice(0, 4000)}`.trim();
    throw new Error(`wrangler could not build ${configPath}:\n${output}`, { cause: error });
  }
}

/**
 * Every module wrangler wrote, typed by wrangler's module rules, main module first. An unknown file fails the
 * start loudly instead of being left out of the worker.
 */
async function bundleModules(bundleDir: string, mainModule: string, rules: readonly V4ModuleRule[]): Promise<V4ModuleDefinition[]> {
  const files = (await readdir(bundleDir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(bundleDir.length + 1));
  if (!files.includes(mainModule)) throw new Error(`wrangler's output has no ${mainModule}`);
  const modules: V4ModuleDefinition[] = [{ type: "ESModule", path: join(bundleDir, mainModule) }];
  for (const file of files.filter((f) => f !== mainModule)) {
    if (file === "README.md" || file.endsWith(".map")) continue;
    const type = moduleType(file, rules);
    if (type === undefined) throw new Error(`wrangler's output has ${file}, which no module rule covers`);
    modules.push({ type, path: join(bundleDir, file) });
  }
  return modules;
}

/**
 * A rule's type before the `.js` default: the pages' script is a `.js` file bundled as Text. wrangler writes a
 * module it collected by a rule as `<sha1>-<file name>`, so only the last segment of the rule's glob can match.
 */
function moduleType(file: string, rules: readonly V4ModuleRule[]): V4ModuleRuleType | undefined {
  const collected = /^[0-9a-f]{40}-(.+)$/.exec(basename(file))?.[1];
  const matches = (glob: string) => (collected === undefined ? matchesGlob(file, glob) : matchesGlob(collected, basename(glob)));
  const rule = rules.find((r) => r.include.some(matches));
  if (rule !== undefined) return rule.type;
  return /\.m?js$/.test(file) ? "ESModule" : undefined;
}

/** Asks the OS for a port that is free right now, so that ISSUER can name it before workerd starts. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? done(address.port) : fail(new Error("no port"))));
    });
  });
}

function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${message} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
