import { JWKS_MAX_AGE_SECONDS } from "../../core/keys/jwks-max-age.ts";
import { rotateKeySet } from "../../core/keys/rotate-key-set.ts";
import { generateSigningKey } from "../../lib/generate-signing-key.ts";
import { AGENT_KID_PREFIX } from "../../schemas/key-report.ts";
import { type SigningAlgorithm, SigningKeySetSchema } from "../../schemas/signing-keys.ts";
import type { Args } from "../framework/args.ts";
import type { Command, Group } from "../framework/command.ts";
import { Failure, type Io, UsageError } from "../framework/io.ts";
import { newAgentKey, signingAlgorithm, writePrivateKey } from "./agent-key.ts";

/** `writ keygen`: a new SIGNING_KEYS value; its old flags (`--rotate`, `--agent`) stay, as `npm run keygen` has them. */
export const keygen: Command = {
  name: "keygen",
  summary: "print a new broker signing key set (the SIGNING_KEYS secret)",
  usage: "writ keygen [--alg ES256|EdDSA]",
  help: `
Prints a SIGNING_KEYS value with one new "current" broker signing key, for wrangler:
  writ keygen > keys.json && npx wrangler secret put SIGNING_KEYS < keys.json && rm keys.json
Rotate it later with \`writ keys rotate < keys.json\`.

Options:
  --alg ES256|EdDSA    default ES256

The forms npm scripts have always had still work:
  npm run keygen -- --rotate [--alg …] < keys.json          same as writ keys rotate
  npm run keygen -- --agent <agent id> --out <file>          an agent key pair: the private JWK goes to <file>
                                                             (mode 0600, never overwritten), the public JWK to stdout
                                                             (kid prefix "${AGENT_KID_PREFIX}"); writ agent add does more`,
  options: { alg: { type: "string" }, rotate: { type: "boolean" }, agent: { type: "string" }, out: { type: "string" } },
  async run(args: Args, io: Io) {
    args.expect([]);
    const alg = signingAlgorithm(args.string("alg"));
    const agentId = args.string("agent");
    if (agentId !== undefined) {
      if (args.flag("rotate")) throw new UsageError("--agent and --rotate do not go together: agent keys are replaced in the policy");
      const out = args.string("out");
      if (out === undefined || out === "")
        throw new UsageError("--agent needs --out <file>: where to write the private key (outside the repository)");
      const pair = await newAgentKey(agentId, alg, "--agent");
      writePrivateKey(out, pair, "--out");
      io.out(JSON.stringify(pair.publicJwk, null, 2));
      io.err(`private key written to ${out} (mode 0600). Add the key above to "keys" of agent ${agentId} in the policy, then deploy.`);
      return 0;
    }
    if (args.has("out")) throw new UsageError("--out goes with --agent; broker keys go to stdout for wrangler secret put");
    if (args.flag("rotate")) return rotate(alg, io);
    io.out(JSON.stringify({ keys: [await generateSigningKey(alg, "current")] }));
    return 0;
  },
};

export const keysRotate: Command = {
  name: "rotate",
  summary: "print the next step of a broker key rotation (add a next key, then promote it)",
  usage: "writ keys rotate [--alg ES256|EdDSA] < keys.json",
  help: `
Reads the current SIGNING_KEYS value on stdin and prints the next one. Run it twice, a deploy apart:
  1. no "next" key yet: adds one (published in the JWKS, not signing). Deploy, then wait at least ${JWKS_MAX_AGE_SECONDS} s
     (the JWKS max-age) so every verifier has it.
  2. a "next" key: promotes it to "current"; the old current stays published as "previous" until its tokens expire.
No valid token fails verification at any point. Keep promotions at least the longest token TTL apart.

Options:
  --alg ES256|EdDSA    the new key's algorithm, default ES256

Example:
  writ keys rotate < keys.json > keys.next.json && npx wrangler secret put SIGNING_KEYS < keys.next.json`,
  options: { alg: { type: "string" } },
  async run(args: Args, io: Io) {
    args.expect([]);
    return rotate(signingAlgorithm(args.string("alg")), io);
  },
};

export const keysNew: Command = {
  ...keygen,
  name: "new",
  usage: "writ keys new [--alg ES256|EdDSA]",
  options: { alg: { type: "string" } },
};

async function rotate(alg: SigningAlgorithm, io: Io): Promise<number> {
  let input: unknown;
  try {
    input = JSON.parse(await io.stdin());
  } catch {
    throw new Failure("stdin is not JSON: pipe the current SIGNING_KEYS value in (writ keys rotate < keys.json)");
  }
  const parsed = SigningKeySetSchema.safeParse(input);
  if (!parsed.success)
    throw new Failure(
      `stdin is not a SIGNING_KEYS value: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  const { step, set } = await rotateKeySet(parsed.data, alg);
  io.out(JSON.stringify(set));
  io.err(
    step === "add-next"
      ? `added a "next" key. Deploy it, wait at least ${JWKS_MAX_AGE_SECONDS}s (the JWKS max-age), then rotate again to promote it.`
      : `promoted "next" to "current"; the old key stays published as "previous". Wait at least the longest token TTL before the next rotation.`,
  );
  return 0;
}

export const keysGroup: Group = {
  name: "keys",
  summary: "The broker's signing keys (the SIGNING_KEYS secret): make and rotate.",
  commands: [keysNew, keysRotate],
};
