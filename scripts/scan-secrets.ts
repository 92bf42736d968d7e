/**
 * CI's last line of defence for "secrets never reach logs": reads log files (the whole test run's output, with every
 * worker log line, and whatever the end-to-end runs wrote) and fails on anything that looks like a credential.
 * A finding names the file, line, column and kind, never the secret itself: the report may end up in a public CI log.
 *
 *   node scripts/scan-secrets.ts test-results/              # every .log/.txt/.json/.jsonl/.ndjson/.out file below it
 *   node scripts/scan-secrets.ts test-output.log broker.log
 *
 * Exit codes: 0 nothing found, 1 findings (one line each on stdout), 2 misuse (no or missing path, unknown option,
 * nothing to scan): a scan that read nothing must not pass as a clean one.
 */
import { createReadStream, existsSync, readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { createInterface } from "node:readline";
import { DEV_VARS } from "./dev-vars.ts";

const USAGE = `usage: node scripts/scan-secrets.ts [--help] <file-or-directory>...
Fails (exit 1) when a log holds an agent assertion or access token (a signed JWT), a bearer credential, an approval
or enrolment link token, an auth_req_id, the dev admin or service secrets (scripts/dev-vars.ts), or private key
material (a JWK "d" member, a PEM private key). Prints file:line:column and the kind, never the secret.
Directories are read recursively: ${[".log", ".txt", ".json", ".jsonl", ".ndjson", ".out"].join(" ")} files.
Exit codes: 0 clean, 1 findings, 2 misuse or nothing to scan.`;

const SCANNED_EXTENSIONS = new Set([".log", ".txt", ".json", ".jsonl", ".ndjson", ".out"]);

/** The dev deployment's secrets (scripts/dev-vars.ts): tests send them, so the broker's logs are where they could leak. */
const DEV_SECRETS: readonly string[] = [
  DEV_VARS.ADMIN_TOKEN,
  ...Object.values(JSON.parse(DEV_VARS.SERVICE_CREDENTIALS) as Record<string, string>),
];

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Each kind of secret, as it appears in a log line (also inside JSON strings, where quotes are escaped). */
const DETECTORS: readonly { kind: string; pattern: RegExp }[] = [
  // A compact JWS with a signature: agent assertions (RFC 7523), access tokens (RFC 9068), Access JWTs.
  { kind: "signed JWT", pattern: /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/g },
  { kind: "access_token value", pattern: /\\?"access_token\\?"\s*:\s*\\?"[^"\\]{8,}|[?&]access_token=[^&\s"]{8,}/g },
  // RFC 6750 §2.1 credentials; `Bearer realm=…` is a challenge, not a credential.
  { kind: "bearer credential", pattern: /\bBearer\s+(?!realm\b)[A-Za-z0-9\-._~+/]{16,}=*/g },
  // Approval and enrolment links carry a 32-byte base64url secret in `t` (worker/approvals/open-approval.ts).
  { kind: "link token", pattern: /(?:[?&]|%3[Ff]|%26)t(?:=|%3[Dd])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g },
  // `<approval id>.<secret>` (core/approvals/auth-req-id.ts): whoever holds it can collect the approved token.
  { kind: "auth_req_id", pattern: /(?<![A-Za-z0-9_.-])[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_.-])/g },
  { kind: "dev secret", pattern: new RegExp(DEV_SECRETS.map(escapeRegExp).join("|"), "g") },
  // The private member of an EC or OKP JWK (RFC 7518 §6.2.2.1, RFC 8037 §2), also JSON-in-JSON.
  { kind: "private JWK", pattern: /\\*"d\\*"\s*:\s*\\*"[A-Za-z0-9_-]{20,}/g },
  { kind: "PEM private key", pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/g },
];

type Finding = { file: string; line: number; column: number; kind: string };

/** Every secret-shaped match in one line of text (1-based columns). */
function findSecrets(text: string): { column: number; kind: string }[] {
  const found: { column: number; kind: string }[] = [];
  for (const { kind, pattern } of DETECTORS) {
    for (const match of text.matchAll(pattern)) found.push({ column: match.index + 1, kind });
  }
  return found.sort((a, b) => a.column - b.column);
}

async function scanFile(file: string, report: (finding: Finding) => void): Promise<number> {
  let line = 0;
  const lines = createInterface({ input: createReadStream(file, "utf8"), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const text of lines) {
    line += 1;
    for (const { column, kind } of findSecrets(text)) report({ file, line, column, kind });
  }
  return line;
}

/** The files a path names: itself, or the log-like files below a directory. */
function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const child = join(path, entry.name);
      if (entry.isDirectory()) return filesUnder(child);
      return entry.isFile() && SCANNED_EXTENSIONS.has(extname(entry.name)) ? [child] : [];
    });
}

function misuse(message: string): never {
  console.error(`scan-secrets: ${message}\n\n${USAGE}`);
  process.exit(2);
}

async function main(args: readonly string[]): Promise<void> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return;
  }
  const unknown = args.find((arg) => arg.startsWith("-"));
  if (unknown !== undefined) misuse(`unknown option ${unknown}`);
  if (args.length === 0) misuse("name at least one log file or directory");
  const missing = args.find((path) => !existsSync(path));
  if (missing !== undefined) misuse(`no such file or directory: ${missing}`);
  const files = args.flatMap(filesUnder);
  if (files.length === 0) misuse(`no log files in ${args.join(", ")}`);

  let findings = 0;
  let lines = 0;
  for (const file of files) {
    lines += await scanFile(file, (finding) => {
      findings += 1;
      console.log(`${finding.file}:${finding.line}:${finding.column}: ${finding.kind}`);
    });
  }
  const scanned = `${files.length} file${files.length === 1 ? "" : "s"}, ${lines} lines`;
  if (findings === 0) {
    console.error(`scan-secrets: no secrets in ${scanned}`);
    return;
  }
  console.error(`scan-secrets: ${findings} possible secret${findings === 1 ? "" : "s"} in ${scanned} (values not shown)`);
  process.exitCode = 1;
}

await main(process.argv.slice(2));
