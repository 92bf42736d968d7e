/**
 * `npm start` as a developer runs it, with their own policy file and port: the banner names that file and the issuer
 * `http://localhost:<port>`, which the broker's metadata names too (one origin for tokens and approval pages), the
 * output holds no stack trace, and an interrupt (Ctrl-C) stops every process it started. A policy mistake stops the
 * start with the check's few lines, before wrangler.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../scripts/policy-path.ts";

const folder = mkdtempSync(join(tmpdir(), "writ-start-"));
const STACK_FRAME = /^\s+at .+(:\d+:\d+\)?|\(native\)|\(<anonymous>\))$/m;

type Started = { child: ChildProcess; output: () => string; exited: Promise<number | null> };

/** `npm start -- <args>` in a process group of its own, so that an interrupt reaches it as Ctrl-C would. */
function npmStart(args: string[], env: NodeJS.ProcessEnv = {}): Started {
  const child = spawn("npm", ["start", "--", ...args], {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...developerEnv(), WRIT_POLICY: "", ...env },
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  return { child, output: () => output, exited };
}

/** The environment of a developer's shell: without vitest's NODE_ENV=test, under which Miniflare does less. */
function developerEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== "NODE_ENV" && !name.startsWith("VITEST")));
}

/** Resolves once the output contains `text`; rejects with the output if the start ends first. */
async function outputContaining(started: Started, text: string): Promise<void> {
  while (!started.output().includes(text)) {
    const ended = await Promise.race([started.exited.then(() => true), new Promise<false>((done) => setTimeout(() => done(false), 200))]);
    if (ended && !started.output().includes(text)) throw new Error(`npm start ended before "${text}":\n${started.output()}`);
  }
}

/** True while any process of the group `npm start` leads is still running. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? done(address.port) : fail(new Error("no port"))));
    });
  });
}

afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe("npm start -- --port <port> --policy <file>", () => {
  const policyFile = join(folder, "team.policy.json");
  let port: number;
  let broker: Started;

  beforeAll(async () => {
    copyFileSync(join(PROJECT_ROOT, "policy/demo.policy.json"), policyFile);
    port = await freePort();
    broker = npmStart(["--port", String(port), "--policy", policyFile]);
    await outputContaining(broker, "Writ broker ready");
  });

  afterAll(async () => {
    const pid = broker.child.pid;
    if (pid !== undefined && groupAlive(pid)) process.kill(-pid, "SIGKILL");
  });

  it("names the policy file it loaded and the issuer http://localhost:<port> in its banner", () => {
    const banner = broker.output().slice(broker.output().indexOf("Writ broker ready"));
    expect(banner).toContain(`issuer http://localhost:${port}\n`);
    expect(banner).toContain(`Policy: ${policyFile} (from --policy)`);
    expect(banner).not.toContain("127.0.0.1");
    expect(banner).not.toContain("demo.policy.json");
  });

  it("serves metadata naming that same issuer, and the endpoints under it", async () => {
    const response = await fetch(`http://localhost:${port}/.well-known/oauth-authorization-server`);
    expect(response.status).toBe(200);
    const metadata = (await response.json()) as { issuer: string; token_endpoint: string };
    expect(metadata.issuer).toBe(`http://localhost:${port}`);
    expect(metadata.token_endpoint).toBe(`http://localhost:${port}/token`);
  });

  it("prints no stack trace and no uncaught exception while starting", () => {
    expect(broker.output()).not.toMatch(STACK_FRAME);
    expect(broker.output()).not.toMatch(/uncaught/i);
  });

  it("stops every process it started on an interrupt, and frees the port", async () => {
    const pid = broker.child.pid ?? 0;
    process.kill(-pid, "SIGINT");
    await broker.exited;
    while (groupAlive(pid)) await new Promise((done) => setTimeout(done, 100));
    await expect(fetch(`http://localhost:${port}/.well-known/oauth-authorization-server`)).rejects.toThrow();
    expect(broker.output()).not.toMatch(STACK_FRAME);
  });
});

describe("npm start with a policy it cannot run", () => {
  it("stops before wrangler with the policy check's lines, naming the field", async () => {
    const broken = join(folder, "broken.policy.json");
    writeFileSync(broken, JSON.stringify({ version: 1, agents: [], use_cases: [], use_case: [] }));
    const started = npmStart([], { WRIT_POLICY: broken });
    const code = await started.exited;
    expect(code).not.toBe(0);
    expect(started.output()).toContain(`writ policy check: ${broken}: 1 problem`);
    expect(started.output()).toContain('Unrecognized key: "use_case"');
    expect(started.output()).not.toContain("wrangler");
    expect(started.output()).not.toMatch(STACK_FRAME);
  });

  it("names a missing file and where its name came from, in one line", async () => {
    const missing = join(folder, "missing.policy.json");
    const started = npmStart(["--policy", missing]);
    expect(await started.exited).toBe(2);
    expect(started.output()).toContain(`npm start: policy file not found: ${missing} (from --policy)`);
    expect(started.output()).not.toMatch(STACK_FRAME);
  });
});
