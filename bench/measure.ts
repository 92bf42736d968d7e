/**
 * Measuring scenarios: warm-up, timed runs in interleaved rounds, workerd CPU time and heap per run, medians,
 * and ratios to each run's floor. Body pools are sized from what a scenario doing strictly less work managed
 * moments before, so fresh assertions never run out and never take long to make.
 */
import { cpuTimes, machineBusySeconds, ownCpuSeconds } from "./cpu.ts";
import type { WorkerInspector } from "./inspector.ts";
import { type LoadBody, type LoadOptions, type LoadResult, runLoad } from "./load.ts";
import { type Measured, type Ratios, type RoundFigures, ratio } from "./results.ts";
import { median } from "./verifier-bench.ts";

/** Something the bench loads: a workerd (broker, floor) or the peer's Node process, pinned to the server core. */
export type Server = { name: string; url: string; pid: number; inspector?: WorkerInspector };

/** One scenario: where to send what. `bodies` makes fresh unique bodies, as many as `boundedBy`'s req/s allows. */
export type Spec = {
  id: string;
  label: string;
  server: Server;
  path: string;
  method: "GET" | "POST";
  body?: string;
  bodies?: (count: number) => LoadBody[];
  /** A scenario doing strictly less work: its req/s bounds this one's, which sizes the body pool. */
  boundedBy?: string;
  /**
   * Bodies that are costly to make (e.g. approved CIBA requests): the warm-up and each round send exactly this
   * many requests, one per body, instead of running for a time.
   */
  perRun?: { warmup: number; run: number };
  floor?: string;
  /** The peer's scenario this one is compared with, at the same concurrency, round by round. */
  peer?: string;
  /**
   * The same path without what this scenario adds (e.g. token exchange without a DPoP proof), in the same group:
   * compared round by round, like the peer, so the ratio is the cost of the addition alone.
   */
  base?: string;
};

export type MeasureSettings = { runSeconds: number; warmupSeconds: number; heapSampleMs: number };

/** When no scenario bounds a run's rate yet, size its body pool for this many req/s. */
const DEFAULT_RATE_BOUND = 5_000;
/** Fresh bodies cost ~50 µs each to make: a cap keeps one pool under about two seconds. */
export const MAX_BODIES = 40_000;

type Round = LoadResult & { serverCpu: number; serverSystemCpu: number; loadCpu: number; othersCpu: number; heapPeak?: number };

export function createMeasurer(settings: MeasureSettings) {
  /** The best req/s seen per scenario and concurrency, as soon as each run ends (pools are sized mid-group). */
  const observedRps = new Map<string, Map<number, number>>();
  const heap = { totalPeak: 0, samples: 0 };

  /** What `id` managed at this concurrency, else at any, else a default. */
  function rateBound(id: string, concurrency: number): number {
    const byConcurrency = observedRps.get(id);
    return byConcurrency?.get(concurrency) ?? (byConcurrency ? Math.max(...byConcurrency.values()) : DEFAULT_RATE_BOUND);
  }

  function observeRps(id: string, concurrency: number, rps: number): void {
    const byConcurrency = observedRps.get(id) ?? new Map<number, number>();
    byConcurrency.set(concurrency, Math.max(rps, byConcurrency.get(concurrency) ?? 0));
    observedRps.set(id, byConcurrency);
  }

  function loadOptions(spec: Spec, concurrency: number, seconds: number, warmup = false): LoadOptions {
    const bound = spec.boundedBy === undefined ? DEFAULT_RATE_BOUND : rateBound(spec.boundedBy, concurrency);
    const perRun = spec.perRun && (warmup ? spec.perRun.warmup : spec.perRun.run);
    // Twice the rate the server cannot beat (a bound measured in a slow moment of a shared machine can be beaten
    // by half), plus the requests in flight: running out would spoil the run.
    const bodies = spec.bodies?.(perRun ?? Math.min(MAX_BODIES, Math.ceil(bound * seconds * 2) + concurrency * 4));
    return {
      ...(perRun === undefined ? {} : { onePerBody: true }),
      url: `${spec.server.url}${spec.path}`,
      method: spec.method,
      connections: concurrency,
      durationSeconds: seconds,
      ...(bodies ? { bodies } : {}),
      ...(spec.body !== undefined ? { body: spec.body } : {}),
    };
  }

  /** Each round runs every scenario once, in order (a slow moment then hits floor and Writ alike); round one warms each up first. */
  async function measureGroup(
    specs: readonly Spec[],
    concurrency: number,
    rounds: number,
    warmupSeconds = settings.warmupSeconds,
  ): Promise<Measured[]> {
    const perSpec = new Map<Spec, Round[]>();
    for (let round = 0; round < rounds; round++) {
      for (const spec of specs) {
        if (round === 0) await runLoad(loadOptions(spec, concurrency, warmupSeconds, true));
        const options = loadOptions(spec, concurrency, settings.runSeconds);
        const serverBefore = cpuTimes(spec.server.pid);
        const loadBefore = ownCpuSeconds();
        const machineBefore = machineBusySeconds();
        const watch = spec.server.inspector?.watchHeap(settings.heapSampleMs);
        const result = await runLoad(options);
        const serverAfter = cpuTimes(spec.server.pid);
        const serverSystemCpu = serverAfter.system - serverBefore.system;
        const serverCpu = serverAfter.user - serverBefore.user + serverSystemCpu;
        const loadCpu = ownCpuSeconds() - loadBefore;
        // Everyone else: other engineers' work on a shared machine, and our own idle servers.
        const othersCpu = Math.max(0, machineBusySeconds() - machineBefore - serverCpu - loadCpu);
        const watched = await watch?.stop();
        if (watched) {
          heap.totalPeak = Math.max(heap.totalPeak, watched.peak.totalSize);
          heap.samples += watched.samples;
        }
        observeRps(spec.id, concurrency, result.rps);
        const list = perSpec.get(spec) ?? [];
        list.push({ ...result, serverCpu, serverSystemCpu, loadCpu, othersCpu, ...(watched ? { heapPeak: watched.peak.usedSize } : {}) });
        perSpec.set(spec, list);
      }
    }
    return specs.map((spec) => summarize(spec, concurrency, perSpec.get(spec) ?? []));
  }

  /** Unmeasured load on every scenario, so that no first measurement pays for V8 compiling the code it runs. */
  async function warmUp(specs: readonly Spec[], concurrency: number, seconds: number): Promise<void> {
    for (const spec of specs) if (!spec.perRun) await runLoad(loadOptions(spec, concurrency, seconds, true));
  }

  return { measureGroup, warmUp, rateBound, heap };
}

function summarize(spec: Spec, concurrency: number, rounds: readonly Round[]): Measured {
  const byRps = [...rounds].sort((a, b) => a.rps - b.rps);
  const mid = byRps[Math.floor(byRps.length / 2)] as Round;
  const answered = (r: LoadResult) => r.ok + r.non2xx;
  const cpuUs = (r: Round) => (r.serverCpu / Math.max(1, answered(r))) * 1e6;
  const heapPeaks = rounds.flatMap((r) => (r.heapPeak === undefined ? [] : [r.heapPeak]));
  return {
    id: spec.id,
    label: spec.label,
    concurrency,
    rounds: rounds.length,
    rps: mid.rps,
    latencyMs: {
      p50: median(rounds.map((r) => r.latencyMs.p50)),
      p90: median(rounds.map((r) => r.latencyMs.p90)),
      p99: median(rounds.map((r) => r.latencyMs.p99)),
    },
    ok: sum(rounds.map((r) => r.ok)),
    non2xx: sum(rounds.map((r) => r.non2xx)),
    errors: sum(rounds.map((r) => r.errors)),
    exhausted: rounds.some((r) => r.exhausted),
    serverCpuUsPerRequest: median(rounds.map(cpuUs)),
    serverBusy: median(rounds.map((r) => r.serverCpu / r.seconds)),
    serverSystemShare: median(rounds.map((r) => r.serverSystemCpu / Math.max(r.serverCpu, 1e-9))),
    loadBusy: median(rounds.map((r) => r.loadCpu / r.seconds)),
    othersBusy: Math.max(...rounds.map((r) => r.othersCpu / r.seconds)),
    perRound: rounds.map((r) => ({ rps: r.rps, p90: r.latencyMs.p90, cpuUs: cpuUs(r), othersBusy: r.othersCpu / r.seconds })),
    ...(heapPeaks.length > 0 ? { heapPeakBytes: Math.max(...heapPeaks) } : {}),
    ...(spec.floor ? { floor: spec.floor } : {}),
    ...(spec.peer ? { peer: spec.peer } : {}),
    ...(spec.base ? { base: spec.base } : {}),
  };
}

/** Sets each run's ratios to its floor at the same concurrency (req/s, p90, CPU per request). */
export function addFloorRatios(measured: Measured[]): void {
  for (const run of measured) {
    if (!run.floor) continue;
    const floor = measured.find((r) => r.id === run.floor && r.concurrency === run.concurrency);
    if (!floor) continue;
    run.vsFloor = {
      rps: ratio(run.rps, floor.rps) ?? Number.NaN,
      p90: ratio(run.latencyMs.p90, floor.latencyMs.p90) ?? Number.NaN,
      cpuPerRequest: ratio(run.serverCpuUsPerRequest, floor.serverCpuUsPerRequest) ?? Number.NaN,
    };
  }
}

/**
 * Sets each run's ratios to the peer's run at the same concurrency: the median of round-by-round ratios (round i of
 * Writ against round i of the peer, measured moments apart), so a slow moment of a shared machine hits both sides.
 */
export function addPeerRatios(measured: Measured[]): void {
  for (const run of measured) {
    const peer = run.peer && measured.find((r) => r.id === run.peer && r.concurrency === run.concurrency);
    if (peer) run.vsPeer = pairedRatios(run, peer);
  }
}

/** Sets each run's ratios to its base (the same path without the addition), round by round as for the peer. */
export function addBaseRatios(measured: Measured[]): void {
  for (const run of measured) {
    const base = run.base && measured.find((r) => r.id === run.base && r.concurrency === run.concurrency);
    if (base) run.vsBase = pairedRatios(run, base);
  }
}

function pairedRatios(run: Measured, other: Measured): Ratios {
  const paired = run.perRound.slice(0, other.perRound.length).map((own, i) => ({ own, other: other.perRound[i] as RoundFigures }));
  const pairedRatio = (of: (r: RoundFigures) => number) => median(paired.map((p) => ratio(of(p.own), of(p.other)) ?? Number.NaN));
  return { rps: pairedRatio((r) => r.rps), p90: pairedRatio((r) => r.p90), cpuPerRequest: pairedRatio((r) => r.cpuUs) };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
