/**
 * `npm run keygen -- --agent <id> --out <file>`, run as an operator runs it: the private key goes to a new file only
 * its owner can read and never to stdout; stdout is the public entry to paste into the policy; the kid carries the
 * prefix secret scanners look for (SECURITY.md, "An agent's private key leaked").
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { importJWK, jwtVerify, SignJWT } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { AGENT_KID_PREFIX } from "../../../schemas/key-report.ts";
import { AgentSchema } from "../../../schemas/policy.ts";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "writ-keygen-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Run = { code: number; stdout: string; stderr: string };

async function keygen(...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["scripts/keygen.ts", ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("npm run keygen -- --agent", () => {
  it("writes the private key to a new 0600 file and prints only the public policy entry, with the scanners' kid prefix", async () => {
    const out = join(dir, "support-bot.jwk.json");
    const run = await keygen("--agent", "support-bot", "--out", out);
    expect(run.code).toBe(0);

    expect(statSync(out).mode & 0o777).toBe(0o600);
    const privateJwk = JSON.parse(readFileSync(out, "utf8")) as Record<string, string>;
    const printed = JSON.parse(run.stdout) as Record<string, string>;
    expect(printed.kid).toMatch(new RegExp(`^${AGENT_KID_PREFIX}support-bot-\\d{4}-\\d{2}-\\d{2}-[0-9a-f]{8}$`));
    expect(printed).toEqual({ ...privateJwk, d: undefined });
    expect(printed).not.toHaveProperty("d");
    expect(run.stdout + run.stderr).not.toContain(privateJwk.d);
    // The printed entry is one the policy accepts as it stands.
    expect(AgentSchema.safeParse({ id: "support-bot", name: "Support bot", keys: [printed] }).success).toBe(true);
  });

  it("makes a pair that works: what the private key signs, the printed public key verifies", async () => {
    const algs = ["ES256", "EdDSA"];
    const runs = await Promise.all(algs.map((alg) => keygen("--agent", "pair-test", "--alg", alg, "--out", join(dir, `pair-${alg}.json`))));
    for (const [i, alg] of algs.entries()) {
      const run = runs[i] as Run;
      expect(run.code).toBe(0);
      const privateJwk = JSON.parse(readFileSync(join(dir, `pair-${alg}.json`), "utf8"));
      const jwt = await new SignJWT({ sub: "pair-test" })
        .setProtectedHeader({ alg, kid: privateJwk.kid })
        .sign(await importJWK(privateJwk, alg));
      const { payload } = await jwtVerify(jwt, await importJWK(JSON.parse(run.stdout), alg));
      expect(payload.sub).toBe("pair-test");
    }
  });

  it("never overwrites a file: exit 1 with one line, the file untouched", async () => {
    const out = join(dir, "taken.json");
    writeFileSync(out, "someone else's key\n");
    const run = await keygen("--agent", "support-bot", "--out", out);
    expect(run).toEqual({ code: 1, stdout: "", stderr: `keygen: ${out} exists: choose another --out, keys are never overwritten\n` });
    expect(readFileSync(out, "utf8")).toBe("someone else's key\n");
  });

  it("refuses a wrong command line with exit code 2 and one line on stderr, writing nothing", async () => {
    const cases: [string[], string | RegExp][] = [
      [["--agent", "support-bot"], "keygen: --agent needs --out <file>: where to write the private key (outside the repository)"],
      [["--agent", "Not An Id", "--out", join(dir, "x.json")], /^keygen: --agent "Not An Id": id: lower-case letters/],
      [
        ["--agent", "a".repeat(120), "--out", join(dir, "y.json")],
        /^keygen: --agent "a+": too long for its kid writ-agent-<id>-<date>-<random>: /,
      ],
      [["--agent", "x", "--rotate", "--out", join(dir, "z.json")], /^keygen: --agent and --rotate do not go together/],
      [["--out", join(dir, "w.json")], /^keygen: --out goes with --agent/],
      [["--alg", "RS256"], "keygen: --alg must be one of ES256, EdDSA"],
      [["--bogus"], /^keygen: Unknown option '--bogus' \(see --help\)$/],
    ];
    // Each run starts Node afresh: in parallel, so the file stays quick.
    const runs = await Promise.all(cases.map(([args]) => keygen(...args)));
    runs.forEach((run, i) => {
      expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 2, stdout: "" });
      expect(run.stderr).toMatch(/^[^\n]+\n$/);
      expect(run.stderr.trimEnd()).toMatch(cases[i]?.[1] ?? "");
    });
    for (const file of ["x.json", "y.json", "z.json", "w.json"]) expect(() => statSync(join(dir, file))).toThrow();
  });

  it("explains itself with --help, exit 0", async () => {
    const run = await keygen("--help");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("npm run keygen -- --agent <agent id> --out <file>");
  });
});
