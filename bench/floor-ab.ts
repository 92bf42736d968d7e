/**
 * An A/B of two floor-worker routes (bench/floor-worker.ts) in interleaved rounds: a ledger-side lever measured
 * on a floor that does only the writes in question, before anyone changes Writ's ledger.
 *
 *   node bench/floor-ab.ts --a /ledger-write/today --b /ledger-write/proposed [--agents 1] [--rounds 8] [--seconds 3]
 */
import { parseArgs } from "node:util";
import { startLocalWorker } from "../scripts/local-broker.ts";
import { generateAgents, tokenRequestBodies } from "./agents.ts";
import { cpuTimes, machineBusySeconds, ownCpuSeconds, pinLoadGenerator, pinServer, workerdPids } from "./cpu.ts";
import { writeFloorConfig } from "./floor-config.ts";
import { runLoad } from "./load.ts";
import { median } from "./verifier-bench.ts";

const { values: args } = parseArgs({
  options: {
    a: { type: "string" },
    b: { type: "string" },
    agents: { type: "string", default: "1" },
    rounds: { type: "string", default: "8" },
    seconds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "16" },
  },
});
if (!args.a || !args.b) throw new Error("usage: node bench/floor-ab.ts --a <route> --b <route> [--agents n] [--rounds n]");
const routes = { A: args.a, B: args.b };
const rounds = Number(args.rounds);
const seconds = Number(args.seconds);
const concurrency = Number(args.concurrency);
const agents = generateAgents(Number(args.agents));
const BODIES_PER_SECOND = 4000;

const pinning = pinLoadGenerator();
const config = await writeFloorConfig();
const before = new Set(workerdPids());
const floor = await startLocalWorker({
  configPath: config.configPath,
  directSocket: true,
  keepRequestLogs: false,
  bindings: (url) => ({
    FLOOR_AGENT_KEYS: JSON.stringify(Object.fromEntries(agents.map((a) => [a.kid, a.publicJwk]))),
    FLOOR_AUDIENCE: url,
  }),
});
try {
  const pid = workerdPids().find((p) => !before.has(p));
  if (pid === undefined) throw new Error("no workerd for the floor");
  pinServer(pid, pinning);
  const load = async (route: string, duration: number) => {
    const bodies = tokenRequestBodies("client-credentials", agents, floor.url, Math.ceil(BODIES_PER_SECOND * duration));
    const server = cpuTimes(pid);
    const own = ownCpuSeconds();
    const machine = machineBusySeconds();
    const result = await runLoad({
      url: `${floor.url}${route}`,
      method: "POST",
      connections: concurrency,
      durationSeconds: duration,
      bodies,
    });
    const after = cpuTimes(pid);
    const cpu = after.user - server.user + (after.system - server.system);
    const others = (machineBusySeconds() - machine - cpu - (ownCpuSeconds() - own)) / result.seconds;
    if (result.non2xx > 0 || result.errors > 0 || result.exhausted)
      throw new Error(`${route}: ${result.non2xx} refusals, ${result.errors} errors`);
    return { rps: result.rps, cpuUs: (cpu / result.ok) * 1e6, sysShare: (after.system - server.system) / cpu, others };
  };
  // Every object created and warm first.
  for (const route of Object.values(routes)) await load(route, 2);
  const ratios: { cpu: number; rps: number }[] = [];
  console.log(`A = ${routes.A}, B = ${routes.B}, ${agents.length} agent(s), c${concurrency}`);
  console.log("round | A CPU µs (sys) | B CPU µs (sys) | B÷A CPU | A req/s | B req/s | B÷A req/s | others");
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (["A", "B"] as const) : (["B", "A"] as const);
    const measured: Record<string, Awaited<ReturnType<typeof load>>> = {};
    for (const side of order) measured[side] = await load(routes[side], seconds);
    const a = measured.A as Awaited<ReturnType<typeof load>>;
    const b = measured.B as Awaited<ReturnType<typeof load>>;
    ratios.push({ cpu: b.cpuUs / a.cpuUs, rps: b.rps / a.rps });
    const pct = (share: number) => `${Math.round(share * 100)}%`;
    console.log(
      `${round + 1} | ${a.cpuUs.toFixed(0)} (${pct(a.sysShare)}) | ${b.cpuUs.toFixed(0)} (${pct(b.sysShare)}) | ${(b.cpuUs / a.cpuUs).toFixed(3)} | ` +
        `${a.rps.toFixed(0)} | ${b.rps.toFixed(0)} | ${(b.rps / a.rps).toFixed(3)} | ${a.others.toFixed(2)} / ${b.others.toFixed(2)}`,
    );
  }
  console.log(
    `median B÷A over ${rounds} rounds: CPU per request ${median(ratios.map((r) => r.cpu)).toFixed(3)}×, req/s ${median(ratios.map((r) => r.rps)).toFixed(3)}×`,
  );
} finally {
  await floor.dispose();
  await config.dispose();
}
