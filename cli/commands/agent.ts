import { readFileSync } from "node:fs";
import { AGENT_KID_PREFIX } from "../../schemas/key-report.ts";
import { resolvePolicyPath } from "../../scripts/policy-path.ts";
import { adminCall } from "../broker/admin-api.ts";
import { adminTokenOf, defaultKeyPath, issuerOf } from "../broker/settings.ts";
import type { Args } from "../framework/args.ts";
import type { Command, Group } from "../framework/command.ts";
import type { Io } from "../framework/io.ts";
import { newAgentKey, signingAlgorithm, writePrivateKey } from "./agent-key.ts";

export const agentAdd: Command = {
  name: "add",
  summary: "make an agent's key pair: the private key to a 0600 file, the policy entry to paste on stdout",
  usage: "writ agent add <agent id> [--out file] [--name text] [--owner email] [--alg ES256|EdDSA] [--kid-prefix prefix]",
  help: `
Makes a new key pair for an agent. The private JWK goes to a new file only you can read (mode 0600; an existing
file is never overwritten) and never to stdout; stdout is the agent's entry for the policy's "agents" list, with
the public key. The key id is <prefix><agent id>-<date>-<random>, so secret scanners recognise a leaked key and
know which agent to report (SECURITY.md). Give the private key file to the agent (WritClient's \`key\`, or
\`writ token get --key\`), paste the entry into the policy, list the agent in its use cases, check and deploy.
For an agent already in the policy, add only the printed key to its "keys" (rotation: keep the old key until the
agent uses the new one, then remove it).

Options:
  --out file           where to write the private key (default: ~/.config/writ/agents/<agent id>.jwk.json,
                       $XDG_CONFIG_HOME respected); keep it outside any repository
  --name text          the entry's "name" (default: the agent id)
  --owner email        the entry's "owner": who answers for the agent (may be barred from approving it)
  --alg ES256|EdDSA    default ES256
  --kid-prefix prefix  default "${AGENT_KID_PREFIX}" (what secret scanners look for)

Example:
  writ agent add invoice-bot --owner ops@example.com > entry.json`,
  options: {
    out: { type: "string" },
    name: { type: "string" },
    owner: { type: "string" },
    alg: { type: "string" },
    "kid-prefix": { type: "string" },
  },
  async run(args: Args, io: Io) {
    const [agentId] = args.expect(["agent id"]) as [string];
    const alg = signingAlgorithm(args.string("alg"));
    const pair = await newAgentKey(agentId, alg, "agent id", args.string("kid-prefix"));
    const out = args.string("out") ?? defaultKeyPath(agentId, io.env);
    writePrivateKey(out, pair, "--out");
    const entry = {
      id: agentId,
      name: args.string("name") ?? agentId,
      ...(args.string("owner") === undefined ? {} : { owner: args.string("owner") }),
      status: "active",
      keys: [pair.publicJwk],
    };
    io.out(JSON.stringify(entry, null, 2));
    io.err(`private key written to ${out} (mode 0600): give it to the agent only.`);
    io.err(
      alreadyListed(agentId)
        ? `agent ${agentId} is already in the policy: add just the key above to its "keys", then writ policy check and deploy.`
        : `add the entry above to "agents" in the policy and "${agentId}" to the "agents" of its use cases, then writ policy check and deploy.`,
    );
    return 0;
  },
};

/** Whether the bundled policy already has this agent (best effort: any problem reading it just means "not known"). */
function alreadyListed(agentId: string): boolean {
  try {
    const { path } = resolvePolicyPath();
    const policy = JSON.parse(readFileSync(path, "utf8")) as { agents?: { id?: unknown }[] };
    return policy.agents?.some((a) => a.id === agentId) ?? false;
  } catch {
    return false;
  }
}

function killSwitch(action: "disable" | "enable"): Command {
  const disabling = action === "disable";
  return {
    name: action,
    summary: disabling
      ? "kill switch: no new token for the agent, its open approvals cancelled, its tokens inactive at /introspect"
      : "switch an agent back on (tokens issued before the switch stay inactive)",
    usage: `writ agent ${action} <agent id> [--issuer url]`,
    help: `
${
  disabling
    ? `Switches the agent off at the broker (POST /admin/agents/<id>/disable): its next token request is refused
everywhere, its pending and approved approvals (and leases) are cancelled, and every token it holds reads as
inactive at /introspect for good. Services that verify offline accept its tokens until they expire (minutes).`
    : `Switches the agent back on (POST /admin/agents/<id>/enable). Tokens issued before it was switched off stay
inactive; it must ask for new ones.`
}

Options:
  --issuer url         the broker (default $WRIT_ISSUER, else the local dev broker)
The admin token comes from $WRIT_ADMIN_TOKEN (the broker's ADMIN_TOKEN secret).

Example:
  WRIT_ADMIN_TOKEN=… writ agent ${action} support-bot --issuer https://writ.example.com`,
    options: { issuer: { type: "string" } },
    async run(args: Args, io: Io) {
      const [agentId] = args.expect(["agent id"]) as [string];
      const issuer = issuerOf(args, io);
      const token = adminTokenOf(io);
      const { body, requestId } = await adminCall(issuer, token, "POST", `/admin/agents/${encodeURIComponent(agentId)}/${action}`);
      const cancelled = (body as { cancelled_approvals?: unknown }).cancelled_approvals;
      const n = typeof cancelled === "number" ? cancelled : Array.isArray(cancelled) ? cancelled.length : 0;
      io.out(
        `${io.colour.ok(`${agentId} ${disabling ? "disabled" : "enabled"}`)} at ${issuer}` +
          `${n > 0 ? `; ${n} approval${n === 1 ? "" : "s"} ${disabling ? "cancelled" : "reopened"}` : ""}` +
          `${requestId === undefined ? "" : ` (request id ${requestId})`}`,
      );
      return 0;
    },
  };
}

export const agentGroup: Group = {
  name: "agent",
  summary: "Agents: make a key pair and policy entry; switch an agent off and on at the broker.",
  commands: [agentAdd, killSwitch("disable"), killSwitch("enable")],
};
