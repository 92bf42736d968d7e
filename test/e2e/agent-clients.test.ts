/**
 * Agents from outside the repository, against a real broker. The agent SDK as its users get it: `npm pack ./client`
 * (its prepack builds dist/), the tarball's file list, an install into a scratch project (jose from the registry),
 * the walkthrough agent (examples/agent-sdk/walkthrough.mjs) run by plain Node 22 and by the machine's Node 20,
 * approved over HTTP as an approver's browser would, and `tsc --noEmit` consumers with NodeNext and Bundler. Then the
 * Python example (examples/python), which speaks the same protocol with PyJWT and requests.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approveFromDevOutbox } from "../../examples/mcp-agent/dev-approve.ts";
import { type Broker, startBroker } from "../../scripts/local-broker.ts";
import { PROJECT_ROOT } from "../../scripts/policy-path.ts";
import type { SentMail } from "../support/ciba.ts";
import { node20OrFail, type PackResult, packPackage, scratchProject, typeCheck } from "../support/packed-packages.ts";

const run = promisify(execFile);
/** A type check of a consumer, the package's and jose's declarations included. */
const TSC_TIMEOUT_MS = 60_000;
const AGENT_TIMEOUT_MS = 45_000;

let broker: Broker;
let scratch: string;
let packed: PackResult;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "writ-agent-sdk-"));
  const packAndInstall = async () => {
    packed = await packPackage("client", scratch);
    await scratchProject(scratch, [packed.tarball]);
    copyFileSync(join(PROJECT_ROOT, "examples/agent-sdk/walkthrough.mjs"), join(scratch, "walkthrough.mjs"));
  };
  [broker] = await Promise.all([startBroker(), packAndInstall()]);
});

afterAll(async () => {
  await broker?.dispose();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("the packed @writ/agent tarball", () => {
  it("holds compiled JavaScript, declarations, the README and package.json: no TypeScript source, tests, keys or broker code", () => {
    const paths = packed.files.map((f) => f.path).sort();
    expect(paths).toContain("package.json");
    expect(paths).toContain("README.md");
    expect(paths).toContain("dist/index.js");
    expect(paths).toContain("dist/index.d.ts");
    for (const path of paths) {
      expect(path, path).toMatch(/^(package\.json|README\.md|dist\/[\w-]+\.(js|d\.ts))$/);
      expect(path, path).not.toMatch(/test|key|\.pem$|policy|worker|durable|build\.ts|tsconfig/);
    }
    // Every module has its declarations next to it.
    const js = paths.filter((p) => p.endsWith(".js")).map((p) => p.slice(0, -3));
    expect(paths.filter((p) => p.endsWith(".d.ts")).map((p) => p.slice(0, -5))).toEqual(js);
  });

  it("declares ESM exports with types, Node >= 20, and jose as its only dependency", () => {
    const manifest = JSON.parse(readFileSync(join(scratch, "node_modules/@writ/agent/package.json"), "utf8"));
    expect(manifest).toMatchObject({
      name: "@writ/agent",
      type: "module",
      engines: { node: ">=20" },
      exports: { ".": { types: "./dist/index.d.ts", default: "./dist/index.js" } },
    });
    expect(Object.keys(manifest.dependencies)).toEqual(["jose"]);
    // Declarations name their siblings as .js, which every type checker resolves.
    expect(readFileSync(join(scratch, "node_modules/@writ/agent/dist/index.d.ts"), "utf8")).not.toMatch(/from "\.\/[\w-]+\.ts"/);
  });
});

describe("a scratch agent on the installed package, against a real broker", () => {
  it("on Node 22: gets a token, reuses it, is denied with the rule and a request id, and completes an approval", async () => {
    const steps = await walkthrough(process.execPath, "node22");
    expectWalkthrough(steps, /^v22\./);
  });

  it("on the machine's Node 20: the same", async () => {
    const steps = await walkthrough(node20OrFail(), "node20");
    expectWalkthrough(steps, /^v20\./);
  });
});

describe("TypeScript consumers", () => {
  const consumer = `import { WritClient, WritDenied, WritRateLimited, type PendingApproval, type WritToken } from "@writ/agent";

const writ = new WritClient({ issuer: "https://writ.example.com", agentId: "support-bot", key: { kty: "EC", crv: "P-256", x: "x", y: "y", d: "d" } });
export async function lookUp(ticket: string): Promise<string> {
  try {
    const token: WritToken = await writ.token({ useCase: "crm.customers.read", context: { ticket }, onPending: (p: PendingApproval) => console.log(p.expiresIn) });
    return token.accessToken;
  } catch (error) {
    if (error instanceof WritDenied) return error.rule;
    if (error instanceof WritRateLimited) return String(error.retryAfter ?? 60);
    throw error;
  }
}
// @ts-expect-error: the types are real, not any
const wrong: number = (await writ.token({ useCase: "u" })).accessToken;
`;

  for (const [moduleKind, resolution] of [
    ["NodeNext", "NodeNext"],
    ["ESNext", "Bundler"],
  ] as const) {
    it(`type-checks with module ${moduleKind} and moduleResolution ${resolution}, the package's declarations included`, async () => {
      writeFileSync(join(scratch, `consumer-${resolution}.ts`), consumer);
      const result = await typeCheck(
        scratch,
        `consumer-${resolution}.ts`,
        { module: moduleKind, moduleResolution: resolution },
        TSC_TIMEOUT_MS,
      );
      expect(result).toBe("ok");
    });
  }
});

describe("the Python example: plain OAuth with PyJWT and requests", () => {
  const python = findPython();
  const script = join(PROJECT_ROOT, "examples/python/get_token.py");
  const env = () => ({ ...process.env, WRIT_ISSUER: broker.url });

  it.skipIf(python === undefined)(
    "gets a token, and prints a refusal with its rule and request id (needs python3-jwt, python3-requests)",
    async () => {
      const { stdout } = await run(python ?? "", [script, "support-bot", "crm.customers.read", "look up ticket SUP-42 from Python"], {
        env: env(),
        timeout: AGENT_TIMEOUT_MS,
      });
      expect(JSON.parse(stdout)).toMatchObject({
        scope: "crm.customers.read",
        claims: { sub: "support-bot", aud: "https://crm.example.com" },
      });

      const refused = await run(python ?? "", [script, "support-bot", "crm.customers.export", "export from Python"], {
        env: env(),
        timeout: AGENT_TIMEOUT_MS,
      }).then(
        () => ({ code: 0, stderr: "" }),
        (error: { code?: number; stderr?: string }) => ({ code: error.code, stderr: error.stderr ?? "" }),
      );
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("refused (403): access_denied: condition context.ticket: required context is missing");
      expect(refused.stderr).toMatch(/^request id: \S+$/m);
    },
  );
});

type Step = { step: string; [field: string]: unknown };

/** Runs the walkthrough; when it says it is waiting for approval, two approvers approve over HTTP. */
async function walkthrough(node: string, label: string): Promise<Step[]> {
  const child = spawn(node, ["walkthrough.mjs"], {
    cwd: scratch,
    env: { ...process.env, WRIT_ISSUER: broker.url, WRIT_AGENT_KEYS: join(PROJECT_ROOT, "policy/demo-agent-keys.json"), WRIT_RUN: label },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const steps: Step[] = [];
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const approvals: Promise<void>[] = [];
  const timer = setTimeout(() => child.kill(), AGENT_TIMEOUT_MS);
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  for await (const line of createInterface({ input: child.stdout })) {
    const step = JSON.parse(line) as Step;
    steps.push(step);
    if (step.step === "pending") approvals.push(approveRefund(label));
  }
  const code = await exited;
  clearTimeout(timer);
  await Promise.all(approvals);
  expect(stderr).toBe("");
  expect(code, JSON.stringify(steps)).toBe(0);
  return steps;
}

function expectWalkthrough(steps: Step[], nodeVersion: RegExp): void {
  const byStep = Object.fromEntries(steps.map((s) => [s.step, s]));
  expect(steps.map((s) => s.step)).toEqual(["start", "token", "cached", "denial", "pending", "approved"]);
  expect(byStep.start?.node).toMatch(nodeVersion);
  expect(byStep.token).toMatchObject({ scope: "crm.customers.read", tokenType: "Bearer" });
  expect(byStep.token?.secondsLeft).toBeGreaterThan(240);
  expect(byStep.cached).toMatchObject({ same: true });
  expect(byStep.denial).toMatchObject({
    refused: true,
    code: "ERR_WRIT_DENIED",
    error: "access_denied",
    rule: "condition context.ticket: required context is missing",
    requestId: expect.stringMatching(/\S/),
  });
  expect(byStep.pending).toMatchObject({ interval: 5 });
  expect(byStep.approved).toMatchObject({ scope: "billing.invoices.refund", tokenType: "Bearer" });
}

/** dana and erin (finance) approve the walkthrough's refund from their mailed links, as their browsers would. */
async function approveRefund(label: string): Promise<void> {
  for (const approver of ["dana@example.com", "erin@example.com"]) {
    const listed = await fetch(`${broker.url}/dev/outbox.json?to=${encodeURIComponent(approver)}`);
    const { mails } = (await listed.json()) as { mails: SentMail[] };
    const mail = mails.find((m) => m.text.includes(`(${label})`));
    if (!mail) throw new Error(`no approval mail to ${approver} for ${label}`);
    await approveFromDevOutbox(broker.url, mail.approvalId, approver);
  }
}

/** A python3 that has PyJWT (with cryptography) and requests: Debian's, or the first on PATH. */
function findPython(): string | undefined {
  for (const candidate of ["/usr/bin/python3", "python3"]) {
    try {
      execFileSync(candidate, ["-c", "import jwt, requests, cryptography"], { stdio: "ignore" });
      return candidate;
    } catch {
      // Missing, or without the packages.
    }
  }
  return undefined;
}
