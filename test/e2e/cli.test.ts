/**
 * `writ`, run as a user runs it (`node cli/writ.ts …` in a child process): help on every command, exit codes,
 * one-line errors without stacks, agent keys, the policy check and its demo-key guard, the decision dry run, and,
 * against a real broker (the bundle `npm run build` ships, in workerd), tokens, their verification, identity
 * failures with the broker's request id, the kill switch and the audit trail.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeJwt, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approveFromDevOutbox } from "../../examples/mcp-agent/dev-approve.ts";
import { AGENT_KID_PREFIX } from "../../schemas/key-report.ts";
import { SigningKeySetSchema } from "../../schemas/signing-keys.ts";
import { type Broker, startBroker } from "../../scripts/local-broker.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DEMO_POLICY = join(ROOT, "policy", "demo.policy.json");
const CRM = "https://crm.example.com";
const dir = mkdtempSync(join(tmpdir(), "writ-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Run = { code: number; stdout: string; stderr: string };

/** Runs the CLI with a clean environment of its own: no broker or admin token unless given, keys under `dir`. */
function writ(args: readonly string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), ...options.env };
  const child = spawn(process.execPath, ["cli/writ.ts", ...args], { cwd: ROOT, env });
  child.stdin.end(options.input ?? "");
  return finished(child);
}

/** A child's exit code and everything it wrote, once it has exited. */
function finished(child: ChildProcessWithoutNullStreams): Promise<Run> {
  return new Promise((done, fail) => {
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

/** What every run must look like to a person: no stack frames, no uncaught-exception noise, no colour in a pipe. */
function expectTidy(run: Run): void {
  const all = run.stdout + run.stderr;
  expect(all).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(all).not.toMatch(/Uncaught|UnhandledPromiseRejection|node:internal/);
  expect(all).not.toContain("\x1b[");
}

function lines(text: string): string[] {
  return text.trimEnd().split("\n");
}

function demoPolicy(): { agents: Record<string, unknown>[]; use_cases: Record<string, unknown>[] } & Record<string, unknown> {
  return JSON.parse(readFileSync(DEMO_POLICY, "utf8"));
}

/** "4 agents, 7 use cases", as `policy ok` counts the demo policy (which other work extends). */
const DEMO_COUNTS = `${demoPolicy().agents.length} agents, ${demoPolicy().use_cases.length} use cases`;

function writePolicy(name: string, policy: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(policy, null, 2));
  return path;
}

describe("writ: help, exit codes and errors", () => {
  const COMMANDS = [
    "agent add",
    "agent disable",
    "agent enable",
    "keygen",
    "keys new",
    "keys rotate",
    "policy check",
    "policy explain",
    "token get",
    "token verify",
    "audit export",
    "audit verify",
  ];

  it("lists every command with --help (exit 0), and answers a bare `writ` with the same list on stderr (exit 2)", async () => {
    const [help, bare] = await Promise.all([writ(["--help"]), writ([])]);
    expect(help.code).toBe(0);
    for (const command of COMMANDS) expect(help.stdout).toContain(`  ${command} `);
    expect(bare).toMatchObject({ code: 2, stdout: "" });
    expect(bare.stderr).toContain("Usage: writ <command>");
    expectTidy(help);
  });

  it("explains every command and group with --help or -h, exit 0, whatever else is on the line", async () => {
    const runs = await Promise.all([
      ...COMMANDS.map((command) => writ([...command.split(" "), "--help"])),
      writ(["policy", "explain", "--bogus", "-h"]),
      ...["agent", "keys", "policy", "token", "audit"].map((group) => writ([group, "--help"])),
    ]);
    for (const [i, command] of [...COMMANDS, "policy explain"].entries()) {
      const run = runs[i] as Run;
      expect(run.code).toBe(0);
      expect(run.stdout.startsWith(`Usage: writ ${command}`)).toBe(true);
      expect(run.stdout).toMatch(/\n\n.+\n\n/);
      expectTidy(run);
    }
    for (const run of runs.slice(COMMANDS.length + 1)) {
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Usage: writ \w+ <command>/);
    }
  });

  it("refuses a wrong command line with exit 2 and one line on stderr naming the mistake", async () => {
    const cases: [string[], RegExp][] = [
      [["frobnicate"], /^writ: unknown command "frobnicate" \(see writ --help\)$/],
      [["agent", "remove", "x"], /^writ agent: unknown command "remove": one of add, disable, enable \(see writ agent --help\)$/],
      [["policy", "check", "--bogus"], /^writ policy check: Unknown option '--bogus' \(see --help\)$/],
      [["policy", "check", "a.json", "b.json"], /^writ policy check: unexpected argument "b\.json" \(see --help\)$/],
      [["policy", "explain", "support-bot"], /^writ policy explain: missing <use-case> \(see --help\)$/],
      [["policy", "explain", "support-bot", "x", "--at", "yesterday"], /^writ policy explain: --at "yesterday" is not an ISO 8601 time$/],
      [["policy", "explain", "support-bot", "x", "--context", "ticket"], /^writ policy explain: --context "ticket": write key=value$/],
      [["agent", "add"], /^writ agent add: missing <agent id> \(see --help\)$/],
      [["agent", "add", "Not An Id"], /^writ agent add: agent id "Not An Id": id: lower-case letters/],
      [["agent", "add", "bot", "--alg", "RS256"], /^writ agent add: --alg must be one of ES256, EdDSA$/],
      [["agent", "add", "bot", "--out"], /^writ agent add: --out needs a value \(see --help\)$/],
      [["agent", "disable", "support-bot"], /^writ agent disable: set WRIT_ADMIN_TOKEN to the broker's ADMIN_TOKEN/],
      [
        ["token", "get", "nobody", "x"],
        /^writ token get: no key for agent "nobody": pass --key <private JWK file> \(writ agent add nobody makes one\)$/,
      ],
      [["token", "verify", "x.y.z", "--issuer", "not a url"], /^writ token verify: --issuer "not a url" is not a URL$/],
      [["audit", "verify", "--file", "x", "--day", "2026-01-01"], /^writ audit verify: --file checks the export as it is/],
    ];
    const runs = await Promise.all(cases.map(([args]) => writ(args)));
    runs.forEach((run, i) => {
      expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 2, stdout: "" });
      expect(lines(run.stderr)).toHaveLength(1);
      expect(run.stderr.trimEnd()).toMatch(cases[i]?.[1] as RegExp);
      expectTidy(run);
    });
  });

  it("colours only a terminal, and not even that under NO_COLOR", async () => {
    // script(1) gives the child a pseudo-terminal, as an interactive shell would.
    const inTerminal = (env: Record<string, string>) =>
      new Promise<string>((done) => {
        const child = spawn("script", ["-qec", `${process.execPath} cli/writ.ts policy check --allow-demo-keys`, "/dev/null"], {
          cwd: ROOT,
          env: { PATH: process.env.PATH, ...env },
        });
        let out = "";
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
        });
        child.on("close", () => done(out));
      });
    const [coloured, plain] = await Promise.all([inTerminal({}), inTerminal({ NO_COLOR: "1" })]);
    expect(coloured).toContain("\x1b[32mpolicy ok\x1b[39m");
    expect(plain).toContain("policy ok");
    expect(plain).not.toContain("\x1b[");
  });
});

describe("writ agent add", () => {
  it("writes the private key to a new 0600 file, prints a policy entry with the public key and a recognisable kid", async () => {
    const out = join(dir, "invoice-bot.jwk.json");
    const run = await writ(["agent", "add", "invoice-bot", "--out", out, "--owner", "Ops@Example.com", "--name", "Invoice bot"]);
    expect(run.code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const privateJwk = JSON.parse(readFileSync(out, "utf8")) as Record<string, string>;
    const entry = JSON.parse(run.stdout) as { id: string; name: string; owner: string; keys: Record<string, string>[] };
    expect(entry).toMatchObject({ id: "invoice-bot", name: "Invoice bot", owner: "Ops@Example.com", status: "active" });
    expect(entry.keys).toEqual([{ ...privateJwk, d: undefined }].map(({ d: _, ...key }) => key));
    expect(entry.keys[0]?.kid).toMatch(new RegExp(`^${AGENT_KID_PREFIX}invoice-bot-\\d{4}-\\d{2}-\\d{2}-[0-9a-f]{8}$`));
    expect(run.stdout + run.stderr).not.toContain(privateJwk.d);
    expect(run.stderr).toContain(`private key written to ${out} (mode 0600)`);
    expectTidy(run);
  });

  it("defaults to a file under the user's config directory and takes another kid prefix", async () => {
    const run = await writ(["agent", "add", "pager-bot", "--kid-prefix", "acme-agent-", "--alg", "EdDSA"]);
    expect(run.code).toBe(0);
    const path = join(dir, "config", "writ", "agents", "pager-bot.jwk.json");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "config", "writ", "agents")).mode & 0o777).toBe(0o700);
    const entry = JSON.parse(run.stdout) as { keys: { kid: string; crv: string }[] };
    expect(entry.keys[0]).toMatchObject({
      crv: "Ed25519",
      kid: expect.stringMatching(/^acme-agent-pager-bot-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/),
    });
  });

  it("never overwrites a key file: exit 1, one line, the file untouched", async () => {
    const out = join(dir, "taken.json");
    writeFileSync(out, "someone else's key\n");
    const run = await writ(["agent", "add", "invoice-bot", "--out", out]);
    expect(run).toEqual({
      code: 1,
      stdout: "",
      stderr: `writ agent add: ${out} exists: choose another --out, keys are never overwritten\n`,
    });
    expect(readFileSync(out, "utf8")).toBe("someone else's key\n");
  });

  it("prints an entry that `writ policy check` accepts once pasted into a policy, with no demo key left", async () => {
    const run = await writ(["agent", "add", "ledger-bot", "--out", join(dir, "ledger-bot.jwk.json"), "--owner", "ops@example.com"]);
    const entry = JSON.parse(run.stdout) as { id: string };
    const demo = demoPolicy();
    // The demo policy with the new agent pasted in: still refused for its demo keys, accepted when they are allowed.
    const pasted = writePolicy("pasted.policy.json", {
      ...demo,
      agents: [...demo.agents, entry],
      use_cases: demo.use_cases.map((u, i) => (i === 0 ? { ...u, agents: [...(u.agents as string[]), entry.id] } : u)),
    });
    // The demo agents replaced by the new one (and nothing else that names them, so no delegation between them):
    // accepted as it stands.
    const own = writePolicy("own.policy.json", {
      version: demo.version,
      agents: [entry],
      use_cases: demo.use_cases.map(({ delegation: _, ...u }) => ({ ...u, agents: [entry.id] })),
    });
    const [withDemo, allowed, clean] = await Promise.all([
      writ(["policy", "check", pasted]),
      writ(["policy", "check", pasted, "--allow-demo-keys"]),
      writ(["policy", "check", own]),
    ]);
    expect(withDemo.code).toBe(1);
    expect(allowed).toMatchObject({
      code: 0,
      stdout: `policy ok: ${pasted}: ${demo.agents.length + 1} agents, ${demo.use_cases.length} use cases\n`,
    });
    expect(clean).toEqual({ code: 0, stdout: `policy ok: ${own}: 1 agent, ${demo.use_cases.length} use cases\n`, stderr: "" });
  });
});

describe("writ policy check", () => {
  it("names each bad field in a few lines, exit 1, no stack", async () => {
    const demo = demoPolicy();
    const broken = writePolicy("broken.policy.json", {
      ...demo,
      use_cases: demo.use_cases.map((u, i) => (i === 1 ? { ...u, max_ttl_seconds: 99_999, agents: ["support-bot", "ghost"] } : u)),
    });
    const run = await writ(["policy", "check", broken, "--allow-demo-keys"]);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 1, stdout: "" });
    expect(lines(run.stderr)).toEqual([
      `writ policy check: ${broken}: 2 problems`,
      "  - use_cases[1].max_ttl_seconds: Too big: expected number to be <=3600",
      '  - use_cases[1].agents[1]: unknown agent "ghost"',
    ]);
    expectTidy(run);
  });

  it("says in one line when the file is missing or not JSON", async () => {
    const notJson = join(dir, "not-json.policy.json");
    writeFileSync(notJson, "{ version: 1");
    const [missing, garbled] = await Promise.all([writ(["policy", "check", join(dir, "nope.json")]), writ(["policy", "check", notJson])]);
    expect(missing).toEqual({ code: 1, stdout: "", stderr: `writ policy check: cannot read ${join(dir, "nope.json")}: ENOENT\n` });
    expect(garbled.code).toBe(1);
    expect(lines(garbled.stderr)).toHaveLength(1);
    expect(garbled.stderr).toMatch(/^writ policy check: .+not-json\.policy\.json is not JSON: /);
  });

  it("refuses a policy registering the demo agents' published keys (the deploy guard), unless allowed for development", async () => {
    const [refused, byFlag, byEnv, byOtherValue] = await Promise.all([
      writ(["policy", "check", DEMO_POLICY]),
      writ(["policy", "check", DEMO_POLICY, "--allow-demo-keys"]),
      writ(["policy", "check", DEMO_POLICY], { env: { WRIT_ALLOW_DEMO_KEYS: "1" } }),
      writ(["policy", "check", DEMO_POLICY], { env: { WRIT_ALLOW_DEMO_KEYS: "true" } }),
    ]);
    expect({ code: refused.code, stdout: refused.stdout }).toEqual({ code: 1, stdout: "" });
    expect(lines(refused.stderr)).toEqual([
      `writ policy check: ${DEMO_POLICY}: 4 demo keys registered (their private keys are in policy/demo-agent-keys.json)`,
      `  - agents[0].keys[0]: key "support-bot-1" is demo agent support-bot's published key: anyone can sign as "support-bot"`,
      `  - agents[1].keys[0]: key "billing-agent-1" is demo agent billing-agent's published key: anyone can sign as "billing-agent"`,
      `  - agents[2].keys[0]: key "report-bot-1" is demo agent report-bot's published key: anyone can sign as "report-bot"`,
      `  - agents[3].keys[0]: key "retired-bot-1" is demo agent retired-bot's published key: anyone can sign as "retired-bot"`,
      "fix: give each agent a key of its own (writ agent add <agent id>) and remove the demo key;",
      "     for local development only, pass --allow-demo-keys or set WRIT_ALLOW_DEMO_KEYS=1",
    ]);
    for (const allowed of [byFlag, byEnv]) {
      expect(allowed).toMatchObject({ code: 0, stdout: `policy ok: ${DEMO_POLICY}: ${DEMO_COUNTS}\n` });
      expect(allowed.stderr).toBe("warning: 4 demo keys allowed for local development: never deploy this policy\n");
    }
    expect(byOtherValue.code).toBe(1);
  });

  it("finds a demo key under another kid (compared by thumbprint)", async () => {
    const demo = demoPolicy();
    const [first, ...rest] = demo.agents as { keys: Record<string, string>[] }[];
    const renamed = { ...first, keys: [{ ...first?.keys[0], kid: "innocent-looking-kid" }] };
    const path = writePolicy("renamed.policy.json", { ...demo, agents: [renamed, ...rest] });
    const run = await writ(["policy", "check", path]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`  - agents[0].keys[0]: key "innocent-looking-kid" is demo agent support-bot's published key`);
  });
});

describe("the deploy guard: `writ policy check` as wrangler's [build] command", () => {
  /** `wrangler deploy --dry-run` of a scratch worker whose build runs the check, as the broker's wrangler.toml does. */
  async function deploy(env: Record<string, string>): Promise<Run> {
    const project = mkdtempSync(join(dir, "deploy-"));
    writeFileSync(join(project, "index.js"), 'export default { fetch() { return new Response("ok"); } };\n');
    writeFileSync(
      join(project, "wrangler.toml"),
      [
        'name = "writ-guard-test"',
        'main = "index.js"',
        'compatibility_date = "2026-11-17"',
        "[build]",
        `command = "node ${join(ROOT, "cli", "writ.ts")} policy check ${DEMO_POLICY}"`,
      ].join("\n"),
    );
    const child = spawn(join(ROOT, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", join(project, "out")], {
      cwd: project,
      env: { PATH: process.env.PATH, HOME: dir, WRANGLER_SEND_METRICS: "false", ...env },
    });
    return finished(child);
  }

  it("stops `wrangler deploy` from shipping the demo agents' keys, and lets a developer build with them when asked", async () => {
    const [refused, allowed] = await Promise.all([deploy({}), deploy({ WRIT_ALLOW_DEMO_KEYS: "1" })]);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toContain(`[custom build] writ policy check: ${DEMO_POLICY}: 4 demo keys registered`);
    expect(refused.stdout).toContain(
      '[custom build]   - agents[0].keys[0]: key "support-bot-1" is demo agent support-bot\'s published key',
    );
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain(`[custom build] policy ok: ${DEMO_POLICY}: ${DEMO_COUNTS}`);
  });
});

describe("writ policy explain", () => {
  it("grants an allowed request, naming each rule it checked (exit 0)", async () => {
    const run = await writ(["policy", "explain", "support-bot", "crm.customers.read", DEMO_POLICY]);
    expect(run.code).toBe(0);
    const out = lines(run.stdout);
    expect(out[0]).toMatch(/^support-bot → crm\.customers\.read {2}\(policy .+demo\.policy\.json, at .+Z\)$/);
    for (const rule of ["agent", "use case", "audience", "actions", "locations"])
      expect(run.stdout).toMatch(new RegExp(`^ {2}✓ ${rule}: `, "m"));
    expect(run.stdout).toContain("· agent budget: 5000 tokens/day: spent at run time, checked by the broker");
    expect(out.at(-1)).toBe("granted: the broker would issue a token (if budgets and the kill switch allow)");
  });

  it("denies a request, says what would pass for every failed rule, and the request built from those fixes passes", async () => {
    const denied = await writ([
      "policy",
      "explain",
      "support-bot",
      "crm.customers.export",
      "--action",
      "delete",
      "--resource",
      "https://evil.example",
    ]);
    expect(denied.code).toBe(1);
    expect(denied.stdout).toContain(
      "  ✗ audience: https://evil.example is not an audience of crm.customers.export\n      to pass: --resource one of https://crm.example.com",
    );
    expect(denied.stdout).toContain("  ✗ actions: delete not allowed\n      to pass: narrow to --action read --action export");
    expect(denied.stdout).toContain(
      "  ✗ context.ticket: required, not sent\n      to pass: --context ticket=<value matching ^(?:SUP-[0-9]{1,8})$>",
    );
    expect(denied.stdout).toContain("  ✗ intent: required, not stated\n      to pass: --intent");
    expect(denied.stdout).toContain(
      "  · approval: a human must approve each request: 1 of dana@example.com, alice@example.com, within 900 s",
    );
    // The verdict is the broker's own decide(): its first failing rule.
    expect(lines(denied.stdout).at(-1)).toBe('denied: audience_not_allowed (audience "https://evil.example")');

    const fixed = await writ([
      "policy",
      "explain",
      "support-bot",
      "crm.customers.export",
      "--action",
      "read",
      "--resource",
      CRM,
      "--context",
      "ticket=SUP-42",
      "--intent",
      "export for the audit",
    ]);
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).not.toContain("✗");
    expect(fixed.stdout).toContain("  ✓ actions: read (narrowed from read, export)");
    expect(lines(fixed.stdout).at(-1)).toBe('granted after approval: the broker would start a human approval (see "approval" above)');
  });

  it("checks time windows at the given time and names when the next window opens", async () => {
    // 2026-11-28 is a Saturday; reports.sales.read is open mon–fri 06:00–20:00 UTC.
    const closed = await writ(["policy", "explain", "report-bot", "reports.sales.read", "--at", "2026-11-28T12:00:00Z"]);
    expect(closed.code).toBe(1);
    expect(closed.stdout).toContain(
      "  ✗ time windows: mon,tue,wed,thu,fri 06:00–20:00 UTC; at 2026-11-28 12:00 UTC outside\n      to pass: ask from 2026-11-30 06:00 UTC (try --at 2026-11-30T06:00:00.000Z)",
    );
    expect(lines(closed.stdout).at(-1)).toBe("denied: outside_time_window");
    const open = await writ(["policy", "explain", "report-bot", "reports.sales.read", "--at", "2026-11-30T06:00:00.000Z"]);
    expect(open.code).toBe(0);
    expect(open.stdout).toContain("  ✓ time windows: mon,tue,wed,thu,fri 06:00–20:00 UTC; at 2026-11-30 06:00 UTC inside");
  });

  it("names the agents and use cases that exist when asked about one that does not", async () => {
    const [agent, useCase, notListed, disabled] = await Promise.all([
      writ(["policy", "explain", "nobody", "crm.customers.read"]),
      writ(["policy", "explain", "report-bot", "crm.nothing"]),
      writ(["policy", "explain", "report-bot", "crm.customers.read"]),
      writ(["policy", "explain", "retired-bot", "crm.customers.read"]),
    ]);
    expect(agent.code).toBe(1);
    expect(agent.stdout).toContain("to pass: agents of this policy: support-bot, billing-agent, report-bot, retired-bot");
    expect(useCase.stdout).toContain(
      '  ✗ use case: "crm.nothing" is not a use case of this policy\n      to pass: use cases report-bot may ask for: reports.sales.read, crm.customers.lookup',
    );
    expect(lines(useCase.stdout).at(-1)).toBe('denied: unknown_use_case (useCase "crm.nothing")');
    expect(notListed.stdout).toContain(
      'to pass: ask for one of reports.sales.read, crm.customers.lookup, or add "report-bot" to use_cases[0].agents',
    );
    expect(disabled.stdout).toContain(
      '  ✗ agent: retired-bot: status "disabled" in the policy\n      to pass: set agents[3].status to "active" and deploy',
    );
    expect(lines(disabled.stdout).at(-1)).toBe("denied: agent_disabled");
  });
});

describe("writ keygen and writ keys rotate", () => {
  it("makes a SIGNING_KEYS value, adds a next key, then promotes it", async () => {
    const made = await writ(["keygen"]);
    expect(made.code).toBe(0);
    const set = SigningKeySetSchema.parse(JSON.parse(made.stdout));
    expect(set.keys.map((k) => k.status)).toEqual(["current"]);

    const added = await writ(["keys", "rotate"], { input: made.stdout });
    expect(added.code).toBe(0);
    expect(SigningKeySetSchema.parse(JSON.parse(added.stdout)).keys.map((k) => k.status)).toEqual(["current", "next"]);
    expect(added.stderr).toMatch(/^added a "next" key\. Deploy it, wait at least \d+s/);

    const promoted = await writ(["keys", "rotate"], { input: added.stdout });
    expect(SigningKeySetSchema.parse(JSON.parse(promoted.stdout)).keys.map((k) => k.status)).toEqual(["previous", "current"]);

    const garbage = await writ(["keys", "rotate"], { input: "not json" });
    expect(garbage).toEqual({
      code: 1,
      stdout: "",
      stderr: "writ keys rotate: stdin is not JSON: pipe the current SIGNING_KEYS value in (writ keys rotate < keys.json)\n",
    });
  });
});

describe("writ against a real broker", () => {
  let broker: Broker;
  let env: Record<string, string>;
  beforeAll(async () => {
    broker = await startBroker();
    env = { WRIT_ISSUER: broker.url };
  });
  afterAll(async () => {
    await broker?.dispose();
  });

  it("gets a token as a demo agent and verifies it against the broker's JWKS, naming each check", async () => {
    const got = await writ(["token", "get", "support-bot", "crm.customers.read", "--intent", "look up SUP-42", "--raw"], { env });
    expect(got.code).toBe(0);
    expect(got.stderr).toBe("using demo agent support-bot's published key (policy/demo-agent-keys.json): local demo only\n");
    const token = got.stdout.trim();
    expect(decodeJwt(token)).toMatchObject({
      iss: broker.url,
      sub: "support-bot",
      aud: CRM,
      scope: "crm.customers.read",
      intent: "look up SUP-42",
    });

    const verified = await writ(["token", "verify", "-", "--audience", CRM, "--scope", "crm.customers.read"], { env, input: `${token}\n` });
    expect(verified.code).toBe(0);
    const out = lines(verified.stdout);
    expect(out[0]).toBe(`valid: checked against ${broker.url}/.well-known/jwks.json`);
    for (const check of ["signature", "typ", "issuer", "audience", "lifetime", "claims", "scope"])
      expect(verified.stdout).toMatch(new RegExp(`^ {2}✓ ${check}: `, "m"));
    expect(verified.stdout).toContain(`  ✓ audience: ${CRM}\n`);
    expect(verified.stdout).toContain(`support-bot may read for crm.customers.read at ${CRM} within {"max_rows":100}`);
    expectTidy(verified);
  });

  it("refuses a forged token: a changed claim, a token signed with another key under the broker's kid, a wrong audience", async () => {
    const token = (await writ(["token", "get", "support-bot", "crm.customers.read", "--raw"], { env })).stdout.trim();
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const widened = Buffer.from(JSON.stringify({ ...decodeJwt(token), authorization_details: [] })).toString("base64url");
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const kid = (JSON.parse(Buffer.from(header, "base64url").toString()) as { kid: string }).kid;
    const foreign = await new SignJWT(decodeJwt(token)).setProtectedHeader({ alg: "ES256", kid, typ: "at+jwt" }).sign(privateKey);

    const [tampered, wrongKey, wrongAudience] = await Promise.all([
      writ(["token", "verify", `${header}.${widened}.${signature}`, "--audience", CRM], { env }),
      writ(["token", "verify", foreign, "--audience", CRM], { env }),
      writ(["token", "verify", token, "--audience", "https://billing.example.com"], { env }),
    ]);
    expect(payload).not.toBe(widened);
    expect(tampered).toEqual({
      code: 1,
      stdout: "",
      stderr: "writ token verify: refused: ERR_WRIT_SIGNATURE_INVALID: signature verification failed\n  ✗ signature\n",
    });
    expect(wrongKey).toEqual(tampered);
    expect(wrongAudience.code).toBe(1);
    expect(wrongAudience.stderr).toMatch(
      /^writ token verify: refused: ERR_WRIT_AUDIENCE_INVALID: .+\n {2}✗ audience \(token says "https:\/\/crm\.example\.com", expected "https:\/\/billing\.example\.com"\)\n$/,
    );
  });

  it("says in one line what to check when the broker does not accept the agent's identity, with its request id", async () => {
    const key = join(dir, "unregistered.jwk.json");
    expect((await writ(["agent", "add", "support-bot", "--out", key])).code).toBe(0);
    const run = await writ(["token", "get", "support-bot", "crm.customers.read", "--key", key], { env });
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 1, stdout: "" });
    expect(lines(run.stderr)).toHaveLength(1);
    const kid = (JSON.parse(readFileSync(key, "utf8")) as { kid: string }).kid;
    expect(run.stderr).toContain(
      `writ token get: refused: the Writ broker did not accept agent "support-bot"'s identity (invalid_client). Check: the issuer is spelled exactly as the broker's ("${broker.url}"), key "${kid}" is registered to "support-bot" in the policy, and this machine's clock is right (request id `,
    );
    // The id is the broker's own: its log line for that request says what really failed.
    const requestId = /\(request id ([^)]+)\)$/.exec(run.stderr.trim())?.[1] as string;
    expect(await broker.requestLog(requestId)).toMatchObject({ request_id: requestId, status: 401 });

    const misspelled = await writ(["token", "get", "support-bot", "crm.customers.read"], { env: { WRIT_ISSUER: `${broker.url}/` } });
    expect(misspelled.code).toBe(1);
    expect(misspelled.stderr).toContain(`calls itself "${broker.url}", not "${broker.url}/": pass its issuer exactly as it names itself`);
  });

  it("stops at a use case that needs approval, naming the command that asks for it; a denial names the rule", async () => {
    const [approval, denial] = await Promise.all([
      writ(["token", "get", "support-bot", "crm.customers.export", "--context", "ticket=SUP-42", "--intent", "audit export"], { env }),
      writ(["token", "get", "support-bot", "crm.customers.export"], { env }),
    ]);
    expect(approval.code).toBe(1);
    expect(lines(approval.stderr).slice(1)).toEqual([
      expect.stringMatching(/^writ token get: refused: use case "crm\.customers\.export" needs a human approval; .+\(request id [^)]+\)$/),
      "to ask the approvers: writ token get support-bot crm.customers.export --wait (or npm run approval -- …)",
    ]);
    expect(denial.stderr).toMatch(
      /refused: Writ denied use case "crm\.customers\.export": condition context\.ticket: required context is missing \(access_denied\) \(request id [^)]+\)\n$/,
    );
  });

  it("waits for a human approval with --wait, saying so on stderr, and prints the approved token", async () => {
    const child = spawn(
      process.execPath,
      ["cli/writ.ts", "token", "get", "support-bot", "customers.export", "--wait", "--intent", "export for ticket SUP-7", "--raw"],
      { cwd: ROOT, env: { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), ...env } },
    );
    child.stdin.end();
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const requested = new Promise<void>((done) =>
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes("approval requested")) done();
      }),
    );
    const exited = new Promise<number>((done) => child.on("close", (code) => done(code ?? -1)));
    // A CLI that fails before asking (a refusal, a broker error) ends the wait too, and the assertion below says why.
    await Promise.race([requested, exited]);
    expect(stderr).toContain(
      `approval requested for customers.export (expires in 900 s): the approvers were emailed; with the local broker open ${broker.url}/dev/outbox. Waiting…`,
    );
    // The approver (dana, link only for this use case) opens the mailed link and approves, as her browser would.
    const { mails } = (await (await fetch(`${broker.url}/dev/outbox.json?to=dana@example.com`)).json()) as {
      mails: { approvalId: string }[];
    };
    const approvalIds = [...new Set(mails.map((m) => m.approvalId))];
    expect(approvalIds).toHaveLength(1);
    await approveFromDevOutbox(broker.url, approvalIds[0] as string, "dana@example.com");

    expect(await exited).toBe(0);
    expect(decodeJwt(stdout.trim())).toMatchObject({ sub: "support-bot", scope: "customers.export", intent: "export for ticket SUP-7" });
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it("switches an agent off and on with the admin token: refused in between, served after", async () => {
    const admin = { ...env, WRIT_ADMIN_TOKEN: "dev-admin-token" };
    const ask = () => writ(["token", "get", "billing-agent", "crm.customers.read", "--raw"], { env });

    const off = await writ(["agent", "disable", "billing-agent"], { env: admin });
    expect(off).toEqual({ code: 0, stdout: `billing-agent disabled at ${broker.url}\n`, stderr: "" });
    const refused = await ask();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('refused: Writ denied use case "crm.customers.read": agent is disabled (access_denied)');

    const on = await writ(["agent", "enable", "billing-agent"], { env: admin });
    expect(on).toEqual({ code: 0, stdout: `billing-agent enabled at ${broker.url}\n`, stderr: "" });
    expect((await ask()).code).toBe(0);

    const [wrongToken, unknownAgent] = await Promise.all([
      writ(["agent", "disable", "billing-agent"], { env: { ...env, WRIT_ADMIN_TOKEN: "not-the-token" } }),
      writ(["agent", "disable", "ghost"], { env: admin }),
    ]);
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.stderr).toMatch(
      /^writ agent disable: the broker refused \(401 .+\) \(check WRIT_ADMIN_TOKEN: it must equal the broker's ADMIN_TOKEN secret\); request id \S+\n$/,
    );
    expect(unknownAgent.code).toBe(1);
    expect(lines(unknownAgent.stderr)).toHaveLength(1);
    expect(unknownAgent.stderr).toMatch(/^writ agent disable: the broker refused \(404 /);
    // Still on: the refused calls changed nothing.
    expect((await ask()).code).toBe(0);
  });

  it("exports the audit trail and proves its chains, at the broker and offline; an edited export is refused", async () => {
    const admin = { ...env, WRIT_ADMIN_TOKEN: "dev-admin-token" };
    expect((await writ(["token", "get", "support-bot", "crm.customers.read", "--raw"], { env })).code).toBe(0);
    // Issued tokens reach the audit trail from their ledger's outbox in batches: export until support-bot's are there.
    let exported = "";
    for (let attempt = 0; attempt < 30 && !exported.includes('"support-bot"'); attempt++) {
      const path = join(dir, `export-${attempt}.ndjson`);
      const run = await writ(["audit", "export", "--agent", "support-bot", "--out", path], { env: admin });
      expect(run.code).toBe(0);
      expect(run.stderr).toMatch(/^exported \d+ records? to /);
      exported = readFileSync(path, "utf8");
      if (!exported.includes('"support-bot"')) await new Promise((r) => setTimeout(r, 500));
    }
    const records = lines(exported).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.length).toBeGreaterThan(0);
    expect(records.every((r) => r.agent === "support-bot" && typeof r.hash === "string")).toBe(true);
    const shards = new Set(records.map((r) => r.shard));

    const file = join(dir, "audit.ndjson");
    writeFileSync(file, exported);
    const offline = await writ(["audit", "verify", "--file", file]);
    expect(offline.code).toBe(0);
    expect(offline.stdout).toMatch(/^ {2}✓ support-bot\/\d{4}-\d{2}-\d{2}: \d+ records, from its first record$/m);
    expect(lines(offline.stdout).at(-1)).toBe(
      `intact: ${file}, ${records.length} records in ${shards.size} shard${shards.size === 1 ? "" : "s"}`,
    );

    const edited = join(dir, "edited.ndjson");
    const last = records.length;
    writeFileSync(
      edited,
      records
        .map((r, i) => JSON.stringify(i === last - 1 ? { ...r, decision: r.decision === "issued" ? "refused" : "issued" } : r))
        .join("\n"),
    );
    const tampered = await writ(["audit", "verify", "--file", edited]);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain(`  ✗ ${records[last - 1]?.shard}: broken at seq ${records[last - 1]?.seq} (edited)`);
    expect(tampered.stderr).toBe(`writ audit verify: ${edited}: 1 broken chain\n`);

    const atBroker = await writ(["audit", "verify", "--agent", "support-bot"], { env: admin });
    expect(atBroker.code).toBe(0);
    expect(atBroker.stdout).toMatch(/^ {2}✓ support-bot\/\d{4}-\d{2}-\d{2}: \d+ records\n/);
    expect(lines(atBroker.stdout).at(-1)).toMatch(/^intact: \d{4}-\d{2}-\d{2}, 1 shard with records$/);
  });
});

describe("the admin token", () => {
  it("is never sent without TLS beyond this machine: one line, exit 1, no request made", async () => {
    // A port nothing listens on: were a request made, the error would be "could not reach the broker".
    const run = await writ(["agent", "disable", "support-bot", "--issuer", "http://writ.example.invalid:9"], {
      env: { WRIT_ADMIN_TOKEN: "dev-admin-token" },
    });
    expect(run).toEqual({
      code: 1,
      stdout: "",
      stderr:
        "writ agent disable: refusing to send the admin token to http://writ.example.invalid:9 without TLS (use https://, or localhost)\n",
    });
  });
});
