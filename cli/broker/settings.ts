import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { DEV_VARS } from "../../scripts/dev-vars.ts";
import { PROJECT_ROOT } from "../../scripts/policy-path.ts";
import type { Args } from "../framework/args.ts";
import { Failure, type Io, UsageError } from "../framework/io.ts";

/** The demo agents' private keys: public on purpose (newcomers play with them), refused in any real deploy. */
export const DEMO_AGENT_KEYS_PATH = join(PROJECT_ROOT, "policy", "demo-agent-keys.json");

/** The broker to talk to: `--issuer`, else `$WRIT_ISSUER`, else the local dev broker (`npm start`). */
export function issuerOf(args: Args, io: Io): string {
  const issuer = args.string("issuer") ?? io.env.WRIT_ISSUER ?? DEV_VARS.ISSUER;
  if (!URL.canParse(issuer)) throw new UsageError(`--issuer ${JSON.stringify(issuer)} is not a URL`);
  // Tokens and assertions carry the issuer verbatim, so "https://x/" and "https://x" are different brokers.
  return issuer;
}

/** The admin API's bearer secret (the broker's ADMIN_TOKEN): from the environment only, never a flag that `ps` shows. */
export function adminTokenOf(io: Io): string {
  const token = io.env.WRIT_ADMIN_TOKEN;
  if (!token) throw new UsageError("set WRIT_ADMIN_TOKEN to the broker's ADMIN_TOKEN (locally: dev-admin-token)");
  return token;
}

/** Where `writ agent add` keeps an agent's private key unless told otherwise: outside any repository, owner-only. */
export function defaultKeyPath(agentId: string, env: NodeJS.ProcessEnv): string {
  const config = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(config, "writ", "agents", `${agentId}.jwk.json`);
}

export function demoAgentKeys(): Record<string, Record<string, unknown>> {
  try {
    return JSON.parse(readFileSync(DEMO_AGENT_KEYS_PATH, "utf8")) as Record<string, Record<string, unknown>>;
  } catch (error) {
    throw new Failure(`cannot read the demo keys at ${DEMO_AGENT_KEYS_PATH}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
}
