// Keys for the broker and its agents. Run `npm run keygen -- --help` for the modes.
// Exit codes: 0 done, 1 the work failed (unreadable input, a file in the way), 2 the command line is wrong.
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { JWKS_MAX_AGE_SECONDS } from "../core/keys/jwks-max-age.ts";
import { rotateKeySet } from "../core/keys/rotate-key-set.ts";
import { generateAgentKey, generateSigningKey } from "../lib/generate-signing-key.ts";
import { AGENT_KID_PREFIX } from "../schemas/key-report.ts";
import { AgentSchema } from "../schemas/policy.ts";
import { SIGNING_ALGORITHMS, type SigningAlgorithm, SigningKeySetSchema } from "../schemas/signing-keys.ts";

const HELP = `Usage:
  npm run keygen [-- --alg ES256|EdDSA]
      prints a new SIGNING_KEYS value (one current broker key): npm run keygen > keys.json
      then: npx wrangler secret put SIGNING_KEYS < keys.json
  npm run keygen -- --rotate [--alg ES256|EdDSA] < keys.json
      prints the next rotation step of an existing SIGNING_KEYS value
  npm run keygen -- --agent <agent id> --out <file> [--alg ES256|EdDSA]
      makes an agent key pair: writes the private JWK to <file> (mode 0600, never stdout; the file must not exist)
      and prints the public JWK to add to the agent's "keys" in the policy. Its kid starts with "${AGENT_KID_PREFIX}",
      so secret scanners recognise it if it leaks (SECURITY.md).
  npm run keygen -- --help`;

class UsageError extends Error {}
class WorkError extends Error {}

try {
  await main();
} catch (error) {
  if (!(error instanceof UsageError || error instanceof WorkError)) throw error;
  console.error(`keygen: ${error.message}`);
  process.exit(error instanceof UsageError ? 2 : 1);
}

async function main(): Promise<void> {
  const values = options();
  if (values.help) {
    console.log(HELP);
    return;
  }
  const alg = values.alg as SigningAlgorithm;
  if (!SIGNING_ALGORITHMS.includes(alg)) throw new UsageError(`--alg must be one of ${SIGNING_ALGORITHMS.join(", ")}`);
  if (values.agent !== undefined) {
    if (values.rotate) throw new UsageError("--agent and --rotate do not go together: agent keys are replaced in the policy");
    return agentKey(values.agent, values.out, alg);
  }
  if (values.out !== undefined) throw new UsageError("--out goes with --agent; broker keys go to stdout for wrangler secret put");
  if (values.rotate) return rotate(alg);
  console.log(JSON.stringify({ keys: [await generateSigningKey(alg, "current")] }));
}

function options(): { help: boolean; rotate: boolean; alg: string; agent?: string | undefined; out?: string | undefined } {
  try {
    return parseArgs({
      options: {
        help: { type: "boolean", short: "h", default: false },
        alg: { type: "string", default: "ES256" },
        rotate: { type: "boolean", default: false },
        agent: { type: "string" },
        out: { type: "string" },
      },
    }).values;
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)} (see --help)`);
  }
}

/** The private key goes to a new file only its owner can read; the public half, which is no secret, to stdout. */
async function agentKey(agentId: string, out: string | undefined, alg: SigningAlgorithm): Promise<void> {
  if (out === undefined || out === "")
    throw new UsageError("--agent needs --out <file>: where to write the private key (outside the repository)");
  const { privateJwk, publicJwk } = await generateAgentKey(agentId, alg);
  // The printed entry must be one the policy accepts: this checks the agent id and that the kid fits.
  const entry = AgentSchema.safeParse({ id: agentId, name: agentId, keys: [publicJwk] });
  if (!entry.success) {
    const issue = entry.error.issues[0];
    const where = issue?.path.includes("kid") ? `too long for its kid ${AGENT_KID_PREFIX}<id>-<date>-<random>` : issue?.path.join(".");
    throw new UsageError(`--agent ${JSON.stringify(agentId)}: ${where}: ${issue?.message}`);
  }
  try {
    // "wx": never overwrite (another key, or a file made earlier with looser permissions); 0600 from the first byte.
    writeFileSync(out, `${JSON.stringify(privateJwk, null, 2)}\n`, { flag: "wx", mode: 0o600 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new WorkError(
      code === "EEXIST" ? `${out} exists: choose another --out, keys are never overwritten` : `cannot write ${out}: ${code}`,
    );
  }
  console.log(JSON.stringify(publicJwk, null, 2));
  console.error(`private key written to ${out} (mode 0600). Add the key above to "keys" of agent ${agentId} in the policy, then deploy.`);
}

async function rotate(alg: SigningAlgorithm): Promise<void> {
  let input: unknown;
  try {
    input = JSON.parse(readFileSync(0, "utf8"));
  } catch {
    throw new WorkError("stdin is not JSON: pipe the current SIGNING_KEYS value in (--rotate < keys.json)");
  }
  const parsed = SigningKeySetSchema.safeParse(input);
  if (!parsed.success)
    throw new WorkError(
      `stdin is not a SIGNING_KEYS value: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  const { step, set } = await rotateKeySet(parsed.data, alg);
  console.log(JSON.stringify(set));
  console.error(
    step === "add-next"
      ? `added a "next" key. Deploy it, wait at least ${JWKS_MAX_AGE_SECONDS}s (the JWKS max-age), then run --rotate again to promote it.`
      : `promoted "next" to "current"; the old key stays published as "previous". Wait at least the longest token TTL before the next rotation.`,
  );
}
