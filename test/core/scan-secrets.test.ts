/**
 * `node scripts/scan-secrets.ts`, CI's check that no secret reached the test run's logs: it must find every kind of
 * secret Writ handles (each real, made the way Writ makes it), say where without repeating it, pass a log of ids and
 * hashes only, and fail loudly when it is misused or has nothing to read.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { exportPKCS8, generateKeyPair } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { newAuthReqId } from "../../core/approvals/auth-req-id.ts";
import { randomSecret, sha256 } from "../../lib/crypto.ts";
import { DEV_VARS } from "../../scripts/dev-vars.ts";
import { PROJECT_ROOT } from "../../scripts/policy-path.ts";
import { signToken, testKey } from "../support/access-tokens.ts";
import { agentPrivateJwk, agentPublicJwk, assertionFor } from "../support/assertions.ts";

const SCANNER = join(PROJECT_ROOT, "scripts/scan-secrets.ts");
const folder = mkdtempSync(join(tmpdir(), "writ-scan-secrets-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

async function scan(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [SCANNER, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

function logFile(name: string, lines: readonly string[]): string {
  const path = join(folder, name);
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

/** A broker log line (lib/log.ts) carrying `fields`. */
const logLine = (fields: Record<string, unknown>) =>
  JSON.stringify({ ts: "2026-11-27T09:00:00.000Z", level: "info", event: "request", ...fields });

describe("scripts/scan-secrets.ts", () => {
  it("finds every kind of secret, one line each with file, line, column and kind, and never prints the secret", async () => {
    const serviceSecret = Object.values(JSON.parse(DEV_VARS.SERVICE_CREDENTIALS) as Record<string, string>)[0] ?? "";
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const secrets: [kind: string, line: string, secret: string][] = [];
    const add = (kind: string, secret: string, line: (secret: string) => string) => secrets.push([kind, line(secret), secret]);
    add("signed JWT", await assertionFor("support-bot"), (s) => logLine({ client_assertion: s }));
    add("signed JWT", await signToken(await testKey("writ-1")), (s) => `token issued: ${s}`);
    add("access_token value", `opaque-${randomSecret()}`, (s) => JSON.stringify({ access_token: s }));
    add("bearer credential", randomSecret(), (s) => `authorization: Bearer ${s}`);
    add("link token", randomSecret(), (s) => logLine({ link: `http://localhost:8787/approvals/${randomSecret(16)}?t=${s}` }));
    add("auth_req_id", newAuthReqId().authReqId, (s) => logLine({ auth_req_id: s }));
    add("dev secret", DEV_VARS.ADMIN_TOKEN, (s) => `admin signed in with ${s}`);
    add("dev secret", serviceSecret, (s) => logLine({ credential: s }));
    add("private JWK", JSON.stringify(agentPrivateJwk("support-bot")), (s) => `key: ${s}`);
    // A JWK logged inside another JSON string: the quotes arrive escaped.
    add("private JWK", JSON.stringify(agentPrivateJwk("billing-agent")), (s) => logLine({ signing_keys: s }));
    add("PEM private key", await exportPKCS8(privateKey), (s) => s.split("\n")[0] ?? "");
    const file = logFile("leaky.log", ["vitest run", ...secrets.map(([, line]) => line)]);

    const { code, stdout, stderr } = await scan(file);
    expect(code).toBe(1);
    const findings = stdout.trim().split("\n");
    secrets.forEach(([kind], i) => {
      expect(findings).toContainEqual(expect.stringMatching(new RegExp(`^${file}:${i + 2}:\\d+: ${kind}$`)));
    });
    expect(stderr).toMatch(/^scan-secrets: \d+ possible secrets in 1 file, 12 lines \(values not shown\)$/m);
    for (const [, , secret] of secrets)
      for (const part of secret.split(/[.\n]/).filter((p) => p.length >= 12)) expect(stdout + stderr).not.toContain(part);
  });

  it("passes a log of ids, hashes, public keys and challenges only", async () => {
    const file = logFile("clean.log", [
      logLine({ request_id: crypto.randomUUID(), jti: crypto.randomUUID(), agent: "support-bot", status: 200, decision: "issued" }),
      logLine({ approval_id: randomSecret(16), token_hash: await sha256(randomSecret()), path: `/approvals/${randomSecret(16)}` }),
      logLine({ status: 401, www_authenticate: 'Bearer realm="writ", error="invalid_token"', reason: "client_assertion_invalid" }),
      `jwks: ${JSON.stringify({ keys: [agentPublicJwk("support-bot")] })}`,
      "-----BEGIN PUBLIC KEY-----",
      " ✓ core test/core/scan-secrets.test.ts (2 tests) 812ms",
    ]);
    expect(await scan(file)).toEqual({ code: 0, stdout: "", stderr: "scan-secrets: no secrets in 1 file, 6 lines\n" });
  });

  it("reads the log files below a directory, and only those", async () => {
    const dir = mkdtempSync(join(folder, "results-"));
    writeFileSync(join(dir, "screenshot.png"), DEV_VARS.ADMIN_TOKEN);
    logFile(join(dir, "broker.log").slice(folder.length + 1), [`x ${DEV_VARS.ADMIN_TOKEN}`]);
    const { code, stdout } = await scan(dir);
    expect({ code, stdout }).toEqual({ code: 1, stdout: `${join(dir, "broker.log")}:1:3: dev secret\n` });
  });

  it("fails loudly when misused or given nothing to read (exit 2), and explains itself with --help (exit 0)", async () => {
    expect(await scan()).toMatchObject({ code: 2, stderr: expect.stringMatching(/^scan-secrets: name at least one log file/) });
    expect(await scan(join(folder, "missing.log"))).toMatchObject({ code: 2, stderr: expect.stringMatching(/no such file or directory/) });
    expect(await scan("--verbose", join(folder, "clean.log"))).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/unknown option --verbose/),
    });
    expect(await scan(mkdtempSync(join(folder, "empty-")))).toMatchObject({ code: 2, stderr: expect.stringMatching(/no log files in/) });
    expect(await scan("--help")).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: node scripts\/scan-secrets\.ts/) });
  });
});
