import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { type AgentKeyPair, generateAgentKey } from "../../lib/generate-signing-key.ts";
import { AGENT_KID_PREFIX } from "../../schemas/key-report.ts";
import { AgentSchema } from "../../schemas/policy.ts";
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from "../../schemas/signing-keys.ts";
import { Failure, UsageError } from "../framework/io.ts";

/** A kid prefix people and secret scanners can recognise; short enough to leave room for the agent id and date. */
const KID_PREFIX = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$/;

export function signingAlgorithm(value: string | undefined): SigningAlgorithm {
  const alg = (value ?? "ES256") as SigningAlgorithm;
  if (!SIGNING_ALGORITHMS.includes(alg)) throw new UsageError(`--alg must be one of ${SIGNING_ALGORITHMS.join(", ")}`);
  return alg;
}

/**
 * A new agent key pair whose kid is `<prefix><agent id>-<YYYY-MM-DD>-<8 hex>`, checked to be one the policy
 * accepts (`label` names the argument that gave the agent id, for the refusal).
 */
export async function newAgentKey(
  agentId: string,
  alg: SigningAlgorithm,
  label: string,
  kidPrefix = AGENT_KID_PREFIX,
): Promise<AgentKeyPair> {
  if (!KID_PREFIX.test(kidPrefix))
    throw new UsageError(`--kid-prefix ${JSON.stringify(kidPrefix)}: letters, digits and . _ : - (at most 40)`);
  const pair = await generateAgentKey(agentId, alg);
  if (kidPrefix !== AGENT_KID_PREFIX) {
    const kid = `${kidPrefix}${pair.publicJwk.kid.slice(AGENT_KID_PREFIX.length)}`;
    pair.publicJwk.kid = kid;
    pair.privateJwk.kid = kid;
  }
  // The printed entry must be one the policy accepts: this checks the agent id and that the kid fits.
  const entry = AgentSchema.safeParse({ id: agentId, name: agentId, keys: [pair.publicJwk] });
  if (!entry.success) {
    const issue = entry.error.issues[0];
    const where = issue?.path.includes("kid") ? `too long for its kid ${kidPrefix}<id>-<date>-<random>` : issue?.path.join(".");
    throw new UsageError(`${label} ${JSON.stringify(agentId)}: ${where}: ${issue?.message}`);
  }
  return pair;
}

/** The private key goes to a new file only its owner can read ("wx": never over another key; 0600 from the first byte). */
export function writePrivateKey(path: string, pair: AgentKeyPair, flag: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, `${JSON.stringify(pair.privateJwk, null, 2)}\n`, { flag: "wx", mode: 0o600 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Failure(
      code === "EEXIST" ? `${path} exists: choose another ${flag}, keys are never overwritten` : `cannot write ${path}: ${code}`,
    );
  }
}
