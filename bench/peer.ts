/**
 * Starts and stops the bench's peer (bench/peer-server.ts: node-oidc-provider) as a child Node process with the
 * bench agents as its clients, so the bench can pin it to the server core and count its CPU like workerd's.
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { PROJECT_ROOT } from "../scripts/policy-path.ts";
import type { BenchAgent } from "./agents.ts";
import type { PeerConfig } from "./peer-server.ts";

export type Peer = { url: string; pid: number; dispose(): Promise<void> };

const START_TIMEOUT_MS = 15_000;
/** Printed once by the provider about its in-memory adapter: expected here, and noise in the bench's output. */
const KNOWN_WARNING = /^oidc-provider WARNING: a quick start development-only in-memory adapter/;

export async function startPeer(agents: readonly BenchAgent[], audience: string, scope: string): Promise<Peer> {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const config: PeerConfig = {
    agents: agents.map((agent) => ({ id: agent.id, publicJwk: agent.publicJwk })),
    signingJwk: { ...privateKey.export({ format: "jwk" }), kid: "peer-1" },
    audience,
    scope,
  };
  const child = spawn(process.execPath, [resolve(PROJECT_ROOT, "bench/peer-server.ts")], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NODE_ENV: "production" },
  });
  createInterface({ input: child.stderr }).on("line", (line) => {
    if (!KNOWN_WARNING.test(line)) process.stderr.write(`[peer] ${line}\n`);
  });
  child.stdin.end(JSON.stringify(config));
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const url = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`the peer did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    child.once("exit", (code) => fail(new Error(`the peer exited (${code}) before listening`)));
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      const match = /^listening (http:\/\/\S+)$/.exec(line);
      if (match?.[1]) done(match[1]);
      else fail(new Error(`the peer said ${JSON.stringify(line)} instead of its address`));
    });
  }).catch(async (error: unknown) => {
    child.kill();
    await exited;
    throw error;
  });
  if (child.pid === undefined) throw new Error("the peer has no pid");
  return {
    url,
    pid: child.pid,
    async dispose() {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
}
