/**
 * The verifier as service owners get it, against a real broker. `npm pack ./verifier` (its prepack builds dist/,
 * the zod schemas it checks claims with compiled in), the tarball's file list, and installs into scratch projects
 * this test creates: one with the package alone (hono is an optional peer, so it is absent there) and one with hono.
 * Every consumer verifies a real token the broker issued and refuses a forged one (the broker's header and claims,
 * signed by another key) and a tampered one (the broker's signature over a raised limit): plain Node 22 and the
 * machine's Node 20 (ESM, no bundler, no tsx), Deno and Bun on node_modules, a Hono app on Node (its `fetch`, as a
 * server adapter would call it), the same app as a Worker bundled by `wrangler deploy --dry-run` and run by workerd,
 * and `tsc --noEmit` consumers with NodeNext and Bundler resolution, declarations included.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WritClient } from "../../client/index.ts";
import { type Broker, type LocalWorker, startBroker, startLocalWorker } from "../../scripts/local-broker.ts";
import { PROJECT_ROOT } from "../../scripts/policy-path.ts";
import { testKey } from "../support/access-tokens.ts";
import { agentPrivateJwk } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_EXPORT, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { withPayload } from "../support/jws.ts";
import { node20OrFail, type PackResult, packPackage, scratchProject, typeCheck } from "../support/packed-packages.ts";

const run = promisify(execFile);
const RUN_TIMEOUT_MS = 45_000;
/** A type check of zod's and hono's declarations takes 5 s of CPU, and much longer on a loaded machine. */
const TSC_TIMEOUT_MS = 120_000;
/** Pack, two installs, the broker and the Worker's build: generous, for a CI machine busy with other suites. */
const SETUP_TIMEOUT_MS = 240_000;
const PACKAGE_DIR = "node_modules/@writ/verifier";

/** What the consumers verify, written next to them as tokens.json. */
type Tokens = { issuer: string; audience: string; real: string; forged: string; tampered: string };

let broker: Broker;
let worker: LocalWorker | undefined;
let scratch: string;
/** The package alone: Node, Deno, Bun, and a tsc consumer of the main entry without hono installed. */
let plain: string;
/** The package and hono: the Hono app on Node, the Worker, and tsc consumers of both entries. */
let withHono: string;
let packed: PackResult;
let tokens: Tokens;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "writ-verifier-"));
  plain = join(scratch, "plain");
  withHono = join(scratch, "hono");
  const packAndInstall = async () => {
    packed = await packPackage("verifier", scratch);
    await Promise.all([scratchProject(plain, [packed.tarball]), scratchProject(withHono, [packed.tarball, "hono@^4"])]);
    writeConsumers();
  };
  [broker] = await Promise.all([startBroker(), packAndInstall()]);
  tokens = await tokensFrom(broker);
  const json = JSON.stringify(tokens);
  writeFileSync(join(plain, "tokens.json"), json);
  writeFileSync(join(withHono, "tokens.json"), json);
  // The scratch Worker, built by wrangler from the installed package and served by workerd like the broker.
  worker = await startLocalWorker({
    configPath: join(withHono, "wrangler.toml"),
    keepRequestLogs: false,
    bindings: () => ({ WRIT_ISSUER: broker.url, AUDIENCE: CRM_API }),
  });
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  await worker?.dispose();
  await broker?.dispose();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("the packed @writ/verifier tarball", () => {
  it("holds compiled JavaScript, declarations, the README and package.json: no TypeScript source, tests, keys or broker code", () => {
    const paths = packed.files.map((f) => f.path).sort();
    for (const entry of ["package.json", "README.md", "dist/verifier/index.js", "dist/verifier/index.d.ts", "dist/verifier/hono.js"])
      expect(paths).toContain(entry);
    // The claim schemas come from the repository's schemas/, compiled in: the package needs nothing outside itself.
    expect(paths).toContain("dist/schemas/access-token.js");
    for (const path of paths) {
      expect(path, path).toMatch(/^(package\.json|README\.md|dist\/(verifier|schemas)\/[\w-]+\.(js|d\.ts))$/);
      expect(path, path).not.toMatch(/test|\.pem$|policy|keys|build\.ts|tsconfig/);
    }
    // Every module has its declarations next to it.
    const js = paths.filter((p) => p.endsWith(".js")).map((p) => p.slice(0, -3));
    expect(paths.filter((p) => p.endsWith(".d.ts")).map((p) => p.slice(0, -5))).toEqual(js);
  });

  it("declares ESM exports with types, Node >= 20, jose and zod as dependencies and hono as an optional peer", () => {
    const manifest = JSON.parse(readFileSync(join(plain, PACKAGE_DIR, "package.json"), "utf8"));
    expect(manifest).toMatchObject({
      name: "@writ/verifier",
      type: "module",
      engines: { node: ">=20" },
      exports: {
        ".": { types: "./dist/verifier/index.d.ts", default: "./dist/verifier/index.js" },
        "./hono": { types: "./dist/verifier/hono.d.ts", default: "./dist/verifier/hono.js" },
        "./mcp": { types: "./dist/verifier/mcp.d.ts", default: "./dist/verifier/mcp.js" },
      },
      peerDependencies: { hono: expect.any(String) },
      peerDependenciesMeta: { hono: { optional: true } },
    });
    expect(Object.keys(manifest.dependencies).sort()).toEqual(["jose", "zod"]);
    // An optional peer is not installed for the user, so the main entry must not need it.
    expect(existsSync(join(plain, "node_modules/hono"))).toBe(false);
    // Declarations name their siblings as .js, which every type checker resolves.
    expect(readFileSync(join(plain, PACKAGE_DIR, "dist/verifier/create-verifier.d.ts"), "utf8")).not.toMatch(/from "\.{1,2}\/[\w/-]+\.ts"/);
  });

  it("loads every entry point of its exports map on the machine's Node 20, without hono installed", async () => {
    const manifest = JSON.parse(readFileSync(join(plain, PACKAGE_DIR, "package.json"), "utf8")) as { exports: Record<string, unknown> };
    const entries = Object.keys(manifest.exports)
      .filter((entry) => entry !== "./package.json")
      .map((entry) => `@writ/verifier${entry.slice(1)}`);
    writeFileSync(
      join(plain, "entries.mjs"),
      `const loaded = {};\nfor (const entry of ${JSON.stringify(entries)}) loaded[entry] = Object.keys(await import(entry));\nconsole.log(JSON.stringify(loaded));\n`,
    );
    const loaded = await runJson<Record<string, string[]>>(node20OrFail(), ["entries.mjs"], plain);
    expect(Object.keys(loaded)).toEqual(entries);
    expect(loaded["@writ/verifier"]).toEqual(
      expect.arrayContaining(["createVerifier", "WritVerifyError", "bearerRefusal", "readBearerToken"]),
    );
    // The middleware imports only hono's types, so even its entry loads without hono.
    expect(loaded["@writ/verifier/hono"]).toContain("writAuth");
    expect(loaded["@writ/verifier/mcp"]).toContain("createMcpAuth");
    expect(loaded["@writ/verifier/dpop-replay-durable-object"]).toEqual(["DpopReplayDurableObject", "durableObjectDpopReplayStore"]);
  });
});

describe("verifying a real token and refusing forged ones, from the installed package", () => {
  it("on plain Node 22 (ESM, no bundler, no tsx)", async () => {
    expectVerdicts(await runJson(process.execPath, ["verify.mjs"], plain), /^node v22\./);
  });

  it("on the machine's Node 20", async () => {
    expectVerdicts(await runJson(node20OrFail(), ["verify.mjs"], plain), /^node v20\./);
  });

  it("on Deno, resolving the package from node_modules", async () => {
    const deno = join(PROJECT_ROOT, "node_modules/.bin/deno");
    const verdicts = await runJson<Verdicts>(deno, ["run", "--allow-net", "--allow-read", "--allow-env", "verify.mjs"], plain, {
      DENO_NO_UPDATE_CHECK: "1",
    });
    expectVerdicts(verdicts, /^deno 2\./);
  });

  it("on Bun", async () => {
    const bun = join(PROJECT_ROOT, "node_modules/.bin/bun");
    expectVerdicts(await runJson(bun, ["verify.mjs"], plain, { DO_NOT_TRACK: "1" }), /^bun 1\./);
  });
});

describe("the Hono middleware, from the installed package", () => {
  it("in a Hono app on Node: the real token reaches the route with its grant, forged ones get RFC 6750 answers", async () => {
    expectHonoAnswers(await runJson(process.execPath, ["hono-on-node.mjs"], withHono));
  });

  it("in a Worker bundled by wrangler and run by workerd: the same answers over HTTP", async () => {
    const url = worker?.url;
    if (url === undefined) throw new Error("the scratch Worker did not start");
    const call = async (path: string, token?: string): Promise<HonoAnswer> => {
      const response = await fetch(`${url}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
      return { status: response.status, challenge: response.headers.get("www-authenticate"), body: await response.json() };
    };
    const answers: HonoAnswers = {
      real: await call("/customers", tokens.real),
      forged: await call("/customers", tokens.forged),
      tampered: await call("/customers", tokens.tampered),
      missing: await call("/customers"),
      otherUseCase: await call("/export", tokens.real),
    };
    expectHonoAnswers(answers);
    // Word for word what the app answers on Node: the bundle changed nothing.
    expect(answers).toEqual(await runJson(process.execPath, ["hono-on-node.mjs"], withHono));
  });
});

describe("TypeScript consumers of the installed declarations", () => {
  // Each run checks zod's and hono's declarations too (skipLibCheck off): seconds of CPU, so three runs, not four.
  for (const [project, moduleKind, resolution] of [
    ["plain", "NodeNext", "NodeNext"],
    ["hono", "NodeNext", "NodeNext"],
    ["hono", "ESNext", "Bundler"],
  ] as const) {
    const entries = project === "plain" ? "the main entry, without hono installed" : "both entries, with hono";
    it(
      `type-check ${entries}, with module ${moduleKind} and moduleResolution ${resolution}`,
      async () => {
        const [dir, file] = project === "plain" ? [plain, "consumer.ts"] : [withHono, "hono-consumer.ts"];
        const result = await typeCheck(dir, file, { module: moduleKind, moduleResolution: resolution }, TSC_TIMEOUT_MS);
        expect(result).toBe("ok");
      },
      TSC_TIMEOUT_MS + 10_000,
    );
  }
});

type Verdicts = {
  runtime: string;
  handler: Record<"real" | "forged", { status: number; body: unknown }>;
  grant: { agent: string; useCase: string; audience: string; actions: string[]; limits: Record<string, unknown>; jti: string };
  forged: string;
  tampered: string;
  otherUseCase: string;
};

function expectVerdicts(verdicts: Verdicts, runtime: RegExp): void {
  expect(verdicts.runtime).toMatch(runtime);
  expect(verdicts.grant).toEqual({
    agent: "support-bot",
    useCase: CUSTOMERS_READ,
    audience: CRM_API,
    actions: ["read"],
    limits: { max_rows: 100 },
    jti: decodeJwt(tokens.real).jti,
  });
  expect(verdicts.handler).toEqual({
    real: { status: 200, body: { agent: "support-bot", maxRows: 100 } },
    forged: { status: 401, body: { error: "invalid_token", error_description: "the access token signature is invalid" } },
  });
  expect(verdicts.forged).toBe("refused ERR_WRIT_SIGNATURE_INVALID");
  expect(verdicts.tampered).toBe("refused ERR_WRIT_SIGNATURE_INVALID");
  expect(verdicts.otherUseCase).toBe("refused ERR_WRIT_SCOPE_INSUFFICIENT");
}

type HonoAnswer = { status: number; challenge: string | null; body: unknown };
type HonoAnswers = Record<"real" | "forged" | "tampered" | "missing" | "otherUseCase", HonoAnswer>;

function expectHonoAnswers(answers: HonoAnswers): void {
  expect(answers.real).toEqual({ status: 200, challenge: null, body: { agent: "support-bot", useCase: CUSTOMERS_READ, maxRows: 100 } });
  // RFC 6750 §3: the challenge starts with the Bearer scheme and its error (other schemes may follow it).
  const invalidSignature = {
    status: 401,
    challenge: expect.stringMatching(
      /^Bearer realm="https:\/\/crm\.example\.com", error="invalid_token", error_description="the access token signature is invalid"/,
    ),
    body: { error: "invalid_token", error_description: "the access token signature is invalid" },
  };
  expect(answers.forged).toEqual(invalidSignature);
  expect(answers.tampered).toEqual(invalidSignature);
  expect(answers.missing).toMatchObject({
    status: 401,
    challenge: expect.stringMatching(/^Bearer realm="https:\/\/crm\.example\.com"(,|$)/),
  });
  expect(answers.missing.challenge).not.toContain("error=");
  expect(answers.otherUseCase).toMatchObject({
    status: 403,
    challenge: expect.stringContaining(`error="insufficient_scope"`),
    body: { error: "insufficient_scope" },
  });
  expect(answers.otherUseCase.challenge).toContain(`scope="${CUSTOMERS_EXPORT}"`);
}

/**
 * A real token from the broker (support-bot, crm.customers.read, through the agent SDK), the same header and claims
 * signed by a key the broker never published (same `kid` and `alg`, so only the signature can tell), and the real
 * token with its row limit raised and the broker's signature kept.
 */
async function tokensFrom(running: Broker): Promise<Tokens> {
  const agent = new WritClient({ issuer: running.url, agentId: "support-bot", key: agentPrivateJwk("support-bot") });
  const { accessToken: real } = await agent.token({ useCase: CUSTOMERS_READ, intent: "verify the packed verifier" });
  const header = decodeProtectedHeader(real);
  const claims = decodeJwt(real);
  if (typeof header.kid !== "string" || (header.alg !== "ES256" && header.alg !== "EdDSA"))
    throw new Error(`unexpected broker token header ${JSON.stringify(header)}`);
  const attacker = await testKey(header.kid, header.alg);
  const forged = await new SignJWT(claims).setProtectedHeader({ ...header, alg: header.alg }).sign(attacker.privateKey);
  const [granted] = claims.authorization_details as [{ limits: Record<string, unknown> }];
  const tampered = withPayload(real, { ...claims, authorization_details: [{ ...granted, limits: { max_rows: 1_000_000 } }] });
  return { issuer: running.url, audience: CRM_API, real, forged, tampered };
}

/** Runs a consumer and reads the one JSON line it prints; anything on stderr (a warning, a stack) fails the test. */
async function runJson<T>(command: string, args: readonly string[], cwd: string, env: Record<string, string> = {}): Promise<T> {
  const { stdout, stderr } = await run(command, args, { cwd, timeout: RUN_TIMEOUT_MS, env: { ...process.env, ...env } });
  expect(stderr).toBe("");
  return JSON.parse(stdout) as T;
}

/** The consumers, in plain JavaScript as a service owner would write them (TypeScript ones for tsc). */
function writeConsumers(): void {
  // One script for Node, Deno and Bun: web APIs and node:fs only.
  writeFileSync(
    join(plain, "verify.mjs"),
    `import { readFileSync } from "node:fs";
import { bearerRefusal, createVerifier, readBearerToken, WritVerifyError } from "@writ/verifier";

const runtime =
  typeof Deno !== "undefined" ? \`deno \${Deno.version.deno}\` : typeof Bun !== "undefined" ? \`bun \${Bun.version}\` : \`node \${process.version}\`;
const tokens = JSON.parse(readFileSync(new URL("./tokens.json", import.meta.url), "utf8"));
const verifier = createVerifier({ issuer: tokens.issuer, audience: tokens.audience });
const verdict = (token, scope) =>
  verifier.verify(token, { scope }).then(
    (grant) => \`accepted for \${grant.agent}\`,
    (error) => (error instanceof WritVerifyError ? \`refused \${error.code}\` : \`failed: \${error}\`),
  );

// The README's fetch handler (Workers, Deno.serve, Bun.serve).
async function handle(request) {
  try {
    const grant = await verifier.verifyRequest(request, { scope: "${CUSTOMERS_READ}" });
    return Response.json({ agent: grant.agent, maxRows: grant.limits.max_rows });
  } catch (error) {
    if (!(error instanceof WritVerifyError)) throw error;
    const { status, body, headers } = bearerRefusal(error, { realm: verifier.audience, dpop: verifier.dpop });
    return Response.json(body, { status, headers });
  }
}
const answer = async (token) => {
  const response = await handle(new Request("${CRM_API}/customers", { headers: { authorization: \`Bearer \${token}\` } }));
  return { status: response.status, body: await response.json() };
};

const grant = await verifier.verify(readBearerToken(\`Bearer \${tokens.real}\`), { scope: "${CUSTOMERS_READ}" });
console.log(JSON.stringify({
  runtime,
  handler: { real: await answer(tokens.real), forged: await answer(tokens.forged) },
  grant: { agent: grant.agent, useCase: grant.useCase, audience: grant.audience, actions: grant.actions, limits: grant.limits, jti: grant.jti },
  forged: await verdict(tokens.forged, "${CUSTOMERS_READ}"),
  tampered: await verdict(tokens.tampered, "${CUSTOMERS_READ}"),
  otherUseCase: await verdict(tokens.real, "${CUSTOMERS_EXPORT}"),
}));
`,
  );

  // The service: one Hono app, served on Node through its fetch and as a Worker.
  writeFileSync(
    join(withHono, "app.mjs"),
    `import { Hono } from "hono";
import { writAuth } from "@writ/verifier/hono";

export function createApp(verifier) {
  const app = new Hono();
  app.get("/customers", writAuth({ verifier, scope: "${CUSTOMERS_READ}" }), (c) =>
    c.json({ agent: c.var.writ.agent, useCase: c.var.writ.useCase, maxRows: c.var.writ.limits.max_rows }),
  );
  app.get("/export", writAuth({ verifier, scope: "${CUSTOMERS_EXPORT}" }), (c) => c.json({ exported: true }));
  return app;
}
`,
  );
  writeFileSync(
    join(withHono, "hono-on-node.mjs"),
    `import { readFileSync } from "node:fs";
import { createVerifier } from "@writ/verifier";
import { createApp } from "./app.mjs";

const tokens = JSON.parse(readFileSync(new URL("./tokens.json", import.meta.url), "utf8"));
const app = createApp(createVerifier({ issuer: tokens.issuer, audience: tokens.audience }));
const call = async (path, token) => {
  const response = await app.fetch(new Request(\`https://crm.example.com\${path}\`, token === undefined ? {} : { headers: { authorization: \`Bearer \${token}\` } }));
  return { status: response.status, challenge: response.headers.get("www-authenticate"), body: await response.json() };
};
console.log(JSON.stringify({
  real: await call("/customers", tokens.real),
  forged: await call("/customers", tokens.forged),
  tampered: await call("/customers", tokens.tampered),
  missing: await call("/customers"),
  otherUseCase: await call("/export", tokens.real),
}));
`,
  );
  writeFileSync(
    join(withHono, "worker.mjs"),
    `import { createVerifier } from "@writ/verifier";
import { createApp } from "./app.mjs";

// One verifier per isolate, so its cached key set serves every request.
let app;
export default {
  fetch(request, env, ctx) {
    app ??= createApp(createVerifier({ issuer: env.WRIT_ISSUER, audience: env.AUDIENCE }));
    return app.fetch(request, env, ctx);
  },
};
`,
  );
  writeFileSync(
    join(withHono, "wrangler.toml"),
    `name = "scratch-verifier-worker"
main = "worker.mjs"
compatibility_date = "2026-11-17"

[vars]
WRIT_ISSUER = "https://writ.example.com"
AUDIENCE = "${CRM_API}"
`,
  );

  writeFileSync(
    join(plain, "consumer.ts"),
    `import { bearerRefusal, createVerifier, readBearerToken, type WritGrant, WritVerifyError, type WritVerifyErrorCode } from "@writ/verifier";

const verifier = createVerifier({ issuer: "https://writ.example.com", audience: "https://crm.example.com" });

// The README's fetch handler.
export async function handle(request: Request): Promise<Response> {
  try {
    const grant = await verifier.verifyRequest(request, { scope: "crm.customers.read" });
    return Response.json({ agent: grant.agent, maxRows: grant.limits.max_rows });
  } catch (error) {
    if (!(error instanceof WritVerifyError)) throw error;
    const { status, body, headers } = bearerRefusal(error, { realm: verifier.audience, dpop: verifier.dpop });
    return Response.json(body, { status, headers });
  }
}

export async function check(authorization: string | null): Promise<string> {
  try {
    const grant: WritGrant = await verifier.verify(readBearerToken(authorization), { scope: ["crm.customers.read", "crm.customers.export"] });
    return \`\${grant.agent} may \${grant.actions.join(", ")} until \${grant.expiresAt.toISOString()}, approved by \${grant.approval?.approved_by.join(", ") ?? "policy"}\`;
  } catch (error) {
    if (!(error instanceof WritVerifyError)) throw error;
    const code: WritVerifyErrorCode = error.code;
    return code;
  }
}
// @ts-expect-error: the grant's types are real, not any
export const wrong: number = (await verifier.verify("token")).agent;
`,
  );
  writeFileSync(
    join(withHono, "hono-consumer.ts"),
    `import { Hono } from "hono";
import { createVerifier, type WritGrant } from "@writ/verifier";
import { type WritAuthOptions, writAuth } from "@writ/verifier/hono";

const verifier = createVerifier({ issuer: "https://writ.example.com", audience: "https://crm.example.com" });
const options: WritAuthOptions = { verifier, scope: "crm.customers.read", onRefusal: (error) => console.warn(error.code) };
const app = new Hono();
app.get("/customers", writAuth(options), (c) => {
  // The middleware's ContextVariableMap augmentation reaches the consumer: c.var.writ is the grant.
  const grant: WritGrant = c.var.writ;
  // @ts-expect-error: typed, not any
  const wrong: number = c.var.writ.agent;
  return c.json({ agent: grant.agent, wrong });
});
export default app;
`,
  );
}
