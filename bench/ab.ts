/**
 * An A/B of one lever: two brokers built from two copies of the tree, the same bench policy, pinned to the same core,
 * loaded in interleaved rounds (A then B, then B then A, …) with fresh token requests, so a slow moment of a shared
 * machine hits both. Prints each round's B ÷ A for CPU per token and req/s, and their medians. How every "before →
 * after" figure in docs/performance.md was measured.
 *
 *   node bench/ab.ts --a /tmp/before --b /tmp/after [--rounds 8] [--seconds 3] [--concurrency 16] [--grant token-exchange]
 *   node bench/ab.ts --a /tmp/before --b /tmp/after --cold [--rounds 8]   # fresh workerd: restart, then first token
 *
 * Each tree is a full copy of the repository (node_modules may be a symlink to this one's) holding one side of the
 * lever; nothing else may differ between them.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEV_VARS } from "../scripts/dev-vars.ts";
import { type LocalWorker, startLocalWorker } from "../scripts/local-broker.ts";
import { BUDGETED_USE_CASE, type Grant, generateAgents, tokenRequestBodies, USE_CASE } from "./agents.ts";
import { writeBenchPolicy } from "./bench-policy.ts";
import { cpuSeconds, machineBusySeconds, ownCpuSeconds, pinLoadGenerator, pinServer, threadCpuMs, workerdPids } from "./cpu.ts";
import { runLoad } from "./load.ts";
import { median } from "./verifier-bench.ts";

const { values: args } = parseArgs({
  options: {
    a: { type: "string" },
    b: { type: "string" },
    rounds: { type: "string", default: "8" },
    seconds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "16" },
    grant: { type: "string", default: "token-exchange" },
    cold: { type: "boolean", default: false },
    agents: { type: "string", default: "1" },
    budgeted: { type: "boolean", default: false },
    /** Seconds to keep counting the server's CPU after the load stops: work it deferred (audit forwarding) is its cost too. */
    drain: { type: "string", default: "0" },
  },
});
if (!args.a || !args.b) throw new Error("usage: node bench/ab.ts --a <tree> --b <tree> [--rounds n] [--seconds s] [--concurrency c]");
const rounds = Number(args.rounds);
const seconds = Number(args.seconds);
const concurrency = Number(args.concurrency);
const grant = args.grant as Grant;
/** Fresh bodies per round: more than any broker here manages per second, with room. */
const BODIES_PER_SECOND = 3000;

const pinning = pinLoadGenerator();
const agents = generateAgents(Number(args.agents));
const useCase = args.budgeted ? BUDGETED_USE_CASE : USE_CASE;
const policy = await writeBenchPolicy(agents);
const brokers: { name: "A" | "B"; worker: LocalWorker; pid: number }[] = [];
try {
  for (const [name, tree] of [
    ["A", args.a],
    ["B", args.b],
  ] as const) {
    const before = new Set(workerdPids());
    const worker = await startLocalWorker({
      configPath: resolve(tree, "wrangler.toml"),
      alias: { "writ-policy": policy.policyPath },
      directSocket: true,
      keepRequestLogs: false,
      omitBindings: ["SIGNING_KEYS"],
      bindings: (url) => ({ ...DEV_VARS, ISSUER: url }),
    });
    const pid = workerdPids().find((p) => !before.has(p));
    if (pid === undefined) throw new Error(`no workerd for ${name}`);
    pinServer(pid, pinning);
    brokers.push({ name, worker, pid });
  }
  const load = async (broker: (typeof brokers)[number], duration: number) => {
    const bodies = tokenRequestBodies(grant, agents, broker.worker.url, Math.ceil(BODIES_PER_SECOND * duration), useCase);
    const server = cpuSeconds(broker.pid);
    const own = ownCpuSeconds();
    const machine = machineBusySeconds();
    const result = await runLoad({
      url: `${broker.worker.url}/token`,
      method: "POST",
      connections: concurrency,
      durationSeconds: duration,
      bodies,
    });
    if (Number(args.drain) > 0) await new Promise((r) => setTimeout(r, Number(args.drain) * 1000));
    const serverCpu = cpuSeconds(broker.pid) - server;
    const others = (machineBusySeconds() - machine - serverCpu - (ownCpuSeconds() - own)) / (result.seconds + Number(args.drain));
    if (result.non2xx > 0 || result.errors > 0 || result.exhausted)
      throw new Error(`${broker.name}: ${result.non2xx} refusals, ${result.errors} errors${result.exhausted ? ", ran out of bodies" : ""}`);
    return { rps: result.rps, cpuUs: (serverCpu / result.ok) * 1e6, p90: result.latencyMs.p90, others };
  };
  if (args.cold) {
    await coldStarts();
    process.exit(0);
  }
  for (const broker of brokers) await load(broker, 2);
  const ratios: { cpu: number; rps: number; p90: number; quiet: boolean }[] = [];
  console.log(`round | A CPU µs | B CPU µs | B÷A CPU | A req/s | B req/s | B÷A req/s | A p90 | B p90 | B÷A p90 | others (cores)`);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? brokers : [...brokers].reverse();
    const measured = new Map<string, Awaited<ReturnType<typeof load>>>();
    for (const broker of order) measured.set(broker.name, await load(broker, seconds));
    const a = measured.get("A") as Awaited<ReturnType<typeof load>>;
    const b = measured.get("B") as Awaited<ReturnType<typeof load>>;
    ratios.push({ cpu: b.cpuUs / a.cpuUs, rps: b.rps / a.rps, p90: b.p90 / a.p90, quiet: Math.max(a.others, b.others) <= 0.3 });
    console.log(
      `${round + 1} | ${a.cpuUs.toFixed(0)} | ${b.cpuUs.toFixed(0)} | ${(b.cpuUs / a.cpuUs).toFixed(3)} | ${a.rps.toFixed(0)} | ${b.rps.toFixed(0)} | ${(b.rps / a.rps).toFixed(3)} | ${a.p90.toFixed(1)} | ${b.p90.toFixed(1)} | ${(b.p90 / a.p90).toFixed(3)} | ${a.others.toFixed(2)} / ${b.others.toFixed(2)}`,
    );
  }
  console.log(
    `median B÷A over ${rounds} rounds (${grant}, c${concurrency}): CPU per token ${median(ratios.map((r) => r.cpu)).toFixed(3)}×, ` +
      `req/s ${median(ratios.map((r) => r.rps)).toFixed(3)}×, p90 ${median(ratios.map((r) => r.p90)).toFixed(3)}× (agents ${agents.length}${args.budgeted ? ", budgeted" : ""})`,
  );
  const quiet = ratios.filter((r) => r.quiet);
  if (quiet.length > 0)
    console.log(
      `median B÷A over the ${quiet.length} quiet rounds (others ≤ 0.3 core on both sides): CPU per token ${median(quiet.map((r) => r.cpu)).toFixed(3)}×, ` +
        `req/s ${median(quiet.map((r) => r.rps)).toFixed(3)}×, p90 ${median(quiet.map((r) => r.p90)).toFixed(3)}×`,
    );
} finally {
  await Promise.allSettled(brokers.map((broker) => broker.worker.dispose()));
  await policy.dispose();
}

/** Restart (stop + start a fresh workerd: the bundle is loaded and evaluated) and the first token after it, A and B in turn. */
async function coldStarts(): Promise<void> {
  const ratios: { start: number; first: number; cpu: number }[] = [];
  console.log("round | A restart ms | B restart ms | B÷A | A first token ms | B first token ms | B÷A | A CPU ms | B CPU ms | B÷A");
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? brokers : [...brokers].reverse();
    const measured = new Map<string, { start: number; first: number; cpu: number }>();
    for (const broker of order) {
      const before = new Set(workerdPids());
      const started = performance.now();
      await broker.worker.restart();
      const start = performance.now() - started;
      const pid = workerdPids().find((p) => !before.has(p));
      if (pid === undefined) throw new Error(`no fresh workerd for ${broker.name}`);
      pinServer(pid, pinning);
      const [body] = tokenRequestBodies(grant, agents, broker.worker.url, 1, USE_CASE);
      const sent = performance.now();
      const response = await fetch(`${broker.worker.url}/token`, {
        method: "POST",
        body: body ?? "",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`${broker.name}: first token answered ${response.status}`);
      measured.set(broker.name, { start, first: performance.now() - sent, cpu: threadCpuMs(pid) });
    }
    const a = measured.get("A") as { start: number; first: number; cpu: number };
    const b = measured.get("B") as { start: number; first: number; cpu: number };
    ratios.push({ start: b.start / a.start, first: b.first / a.first, cpu: b.cpu / a.cpu });
    console.log(
      `${round + 1} | ${a.start.toFixed(0)} | ${b.start.toFixed(0)} | ${(b.start / a.start).toFixed(3)} | ${a.first.toFixed(1)} | ${b.first.toFixed(1)} | ${(b.first / a.first).toFixed(3)} | ${a.cpu.toFixed(0)} | ${b.cpu.toFixed(0)} | ${(b.cpu / a.cpu).toFixed(3)}`,
    );
  }
  console.log(
    `median B÷A over ${rounds} cold starts: restart ${median(ratios.map((r) => r.start)).toFixed(3)}×, first token ${median(ratios.map((r) => r.first)).toFixed(3)}×, ` +
      `workerd CPU to start and answer it ${median(ratios.map((r) => r.cpu)).toFixed(3)}×`,
  );
}
