/**
 * The shape of `bench/results/latest.json`, the issue's targets computed from one run's measurements, and the
 * table `npm run bench` prints. Every Writ figure is read as a ratio: against the peer (node-oidc-provider doing
 * the same work, issue #15) round by round, and against floors measured in the same run, on the same machine,
 * minutes apart: absolute numbers move with the machine, ratios much less.
 */

export type Latency = { p50: number; p90: number; p99: number };

export type Measured = {
  id: string;
  label: string;
  concurrency: number;
  /** Rounds run; the figures are the median round's (by req/s) and the median of each percentile. */
  rounds: number;
  rps: number;
  latencyMs: Latency;
  ok: number;
  non2xx: number;
  errors: number;
  /** The run ran out of pre-generated unique bodies: it measured less than asked for. */
  exhausted: boolean;
  /** workerd CPU time per answered request (µs): less noisy than req/s on a shared machine. */
  serverCpuUsPerRequest: number;
  /** Busy fraction of the server core and of the load core: a load core near 1.0 means the generator, not the server, was the limit. */
  serverBusy: number;
  /** Share of the server's CPU spent in the kernel (syscalls: the network, SQLite's writes and fsyncs). */
  serverSystemShare: number;
  loadBusy: number;
  /**
   * CPU (in cores) that neither the measured server nor the load generator used while the run ran — other work on a
   * shared machine — in the busiest round: above ~0.3 the row is noisy and worth rerunning.
   */
  othersBusy: number;
  perRound: RoundFigures[];
  heapPeakBytes?: number;
  /** The matching floor, and this run's ratios to it at the same concurrency. */
  floor?: string;
  vsFloor?: Ratios;
  /** The peer's matching scenario, and the median of round-by-round ratios to it at the same concurrency. */
  peer?: string;
  vsPeer?: Ratios;
  /** The same path without what this one adds (DPoP: without a proof), and the median of round-by-round ratios to it. */
  base?: string;
  vsBase?: Ratios;
};

export type RoundFigures = { rps: number; p90: number; cpuUs: number; othersBusy: number };
export type Ratios = { rps: number; p90: number; cpuPerRequest: number };

export type Skipped = { id: string; label: string; reason: string };

export type Target = {
  name: string;
  /** A ratio (×) or megabytes; null when skipped. */
  measured: number | null;
  goal: string;
  met: boolean | null;
  skipped?: string;
};

export type VerifierResult =
  | { skipped: string }
  | { tokens: number; rounds: number; verifierPerSecond: number; joseJwtVerifyPerSecond: number; ratio: number };

/**
 * `verifyRequest` on a DPoP-bound token with a fresh proof per request (`Authorization: DPoP`, in-memory replay store),
 * against `verifyRequest` on a Bearer token and raw `jose.jwtVerify` of the bound token, in interleaved rounds.
 * Ratios are medians of round-by-round ratios.
 */
export type DpopVerifierResult =
  | { skipped: string }
  | {
      tokens: number;
      rounds: number;
      dpopPerSecond: number;
      bearerPerSecond: number;
      joseJwtVerifyPerSecond: number;
      vsJose: number;
      vsBearer: number;
    };

/** The production bundle (`wrangler deploy --dry-run --outdir`): what the edge loads into every fresh isolate. */
export type BundleResult =
  | { skipped: string }
  | {
      rawBytes: number;
      gzipBytes: number;
      /** Bytes each package (or top-level folder of Writ's own code) puts into the main module, heaviest first. */
      heaviest: { name: string; bytes: number; modules: number }[];
    };

/**
 * A fresh workerd (new isolate, nothing compiled or cached) for the broker and for the floor worker, several times
 * each: how long a restart takes (stop, then start: workerd loads and evaluates the bundle), how long the first
 * token request then takes (the broker's POST /token, the floor's POST /verify-sign-write), and the CPU the fresh
 * process used for both (the steadiest of the three on a shared machine). Medians; ratios broker ÷ floor.
 */
export type ColdStart = { startMs: number; firstRequestMs: number; cpuMs: number };
export type ColdStartResult = { skipped: string } | { samples: number; broker: ColdStart; floor: ColdStart; ratio: ColdStart };

/** Peak heap of the broker's isolate (Runtime.getHeapUsage) while loaded, garbage included; live = after a forced GC at the end. */
export type MemoryResult =
  | { skipped: string }
  | {
      peakUsedBytes: number;
      peakTotalBytes: number;
      idleUsedBytes: number;
      liveAfterLoadBytes: number;
      samples: number;
      /** Each Writ path at the target concurrency, on the inspected broker. */
      byPath: { id: string; label: string; peakUsedBytes: number }[];
    };

export type BenchResults = {
  generatedAt: string;
  durationSeconds: number;
  settings: { runSeconds: number; warmupSeconds: number; concurrencies: number[]; targetConcurrency: number; targetRounds: number };
  environment: {
    node: string;
    workerd: string;
    cpus: number;
    cpuModel: string;
    pinning: string;
    /** Load average when the run started: other work on a shared machine skews every figure. */
    loadAverage: number[];
    transport: string;
    /** What the peer is: package and version, and what it does per request. */
    peer: string;
  };
  runs: Measured[];
  skipped: Skipped[];
  /** `scaling`: req/s with load spread over all agents' objects ÷ req/s with one agent's object, for Writ and for the floor. */
  manyAgents: { agents: number; runs: Measured[]; scaling: { concurrency: number; writ: number; floor: number }[] } | { skipped: string };
  verifier: VerifierResult;
  dpopVerifier: DpopVerifierResult;
  memory: MemoryResult;
  bundle: BundleResult;
  coldStart: ColdStartResult;
  /** `--profile`: the broker's heaviest functions by self time, per profiled path. */
  profiles?: { path: string; file: string; top: { name: string; selfPercent: number }[] }[];
  targets: Target[];
};

export const FLOOR = {
  hello: "floor.hello",
  sign: "floor.sign",
  verifySign: "floor.verify-sign",
  verifySignWrite: "floor.verify-sign-write",
  verifySignWrite2: "floor.verify-sign-write2",
} as const;

export const PEER = {
  /** node-oidc-provider, one client: client_credentials + private_key_jwt, ES256 JWT access token. */
  oneAgent: "peer.client-credentials",
  /** The same, spread over the many-agents phase's clients. */
  agents: "peer.agents",
} as const;

const MB = 1024 * 1024;
const KB = 1024;
/** The issue's goals (#15). */
export const GOALS = {
  /** Writ's req/s ÷ the peer's, one agent, at the target concurrency. */
  rpsVsPeer: 1.2,
  /** The same at concurrency 1. */
  rpsVsPeerC1: 0.8,
  /** The same spread over many agents (Writ's many agents ÷ the peer with as many clients). */
  rpsVsPeerManyAgents: 1.0,
  /** Writ's p90 ÷ the peer's, at the target concurrency and at 64. */
  p90VsPeer: 1.0,
  verifierVsJose: 0.95,
  verifierWithDpopVsJose: 0.45,
  liveHeapBytes: 16 * MB,
} as const;

/**
 * The issue's targets (#15). Issuance targets apply to every issuing path, measured or not yet (a path that does
 * not exist yet is listed, skipped). Ratios to the peer are round-by-round medians (`vsPeer`). The old targets
 * against floors (req/s vs "verify + sign" and "verify + sign + DO write", CIBA collection vs a warm-object
 * floor) and the peak heap including garbage are gone: the table still shows the floors, as a breakdown.
 */
export function computeTargets(results: {
  runs: readonly Measured[];
  skipped: readonly Skipped[];
  manyAgents: BenchResults["manyAgents"];
  verifier: VerifierResult;
  dpopVerifier: DpopVerifierResult;
  memory: MemoryResult;
  concurrency: number;
}): Target[] {
  const { runs, skipped, verifier, dpopVerifier, memory, concurrency } = results;
  const at = (id: string, c: number) => runs.find((r) => r.id === id && r.concurrency === c);
  const targets: Target[] = [];
  const ratioTarget = (name: string, measured: number | undefined, op: ">=" | "<=", goal: number, reason?: string): Target => {
    if (measured === undefined || !Number.isFinite(measured))
      return { name, measured: null, goal: `${op} ${goal}×`, met: null, skipped: reason ?? "not measured" };
    const value = round(measured, 2);
    return { name, measured: value, goal: `${op} ${goal}×`, met: op === ">=" ? measured >= goal : measured <= goal };
  };

  const issuing = [
    ...runs.filter((r) => r.id.startsWith("writ.") && r.concurrency === concurrency).map((r) => ({ id: r.id, label: r.label })),
    ...skipped.filter((s) => s.id.startsWith("writ.")).map((s) => ({ id: s.id, label: s.label })),
  ].filter((path) => !path.id.startsWith("writ.ciba"));
  const p90Concurrencies = [...new Set([concurrency, 64])].filter((c) => runs.some((r) => r.concurrency === c));
  for (const path of issuing) {
    const reason = skipped.find((s) => s.id === path.id)?.reason;
    targets.push(
      ratioTarget(
        `${path.label}: req/s vs the peer, c${concurrency}`,
        at(path.id, concurrency)?.vsPeer?.rps,
        ">=",
        GOALS.rpsVsPeer,
        reason,
      ),
    );
    if (runs.some((r) => r.concurrency === 1))
      targets.push(ratioTarget(`${path.label}: req/s vs the peer, c1`, at(path.id, 1)?.vsPeer?.rps, ">=", GOALS.rpsVsPeerC1, reason));
    for (const c of p90Concurrencies)
      targets.push(ratioTarget(`${path.label}: p90 vs the peer's p90, c${c}`, at(path.id, c)?.vsPeer?.p90, "<=", GOALS.p90VsPeer, reason));
  }
  const many = "runs" in results.manyAgents ? results.manyAgents : undefined;
  const spread = many?.runs.find((r) => r.id === "many.agents" && r.concurrency === concurrency);
  targets.push(
    ratioTarget(
      `${spread?.label ?? "Writ: many agents"}: req/s vs the peer with as many clients, c${concurrency}`,
      spread?.vsPeer?.rps,
      ">=",
      GOALS.rpsVsPeerManyAgents,
      many ? undefined : "skipped" in results.manyAgents ? results.manyAgents.skipped : undefined,
    ),
  );

  targets.push(
    "skipped" in verifier
      ? {
          name: "verifier library: verifications/s vs raw jose.jwtVerify",
          measured: null,
          goal: `>= ${GOALS.verifierVsJose}×`,
          met: null,
          skipped: verifier.skipped,
        }
      : ratioTarget("verifier library: verifications/s vs raw jose.jwtVerify", verifier.ratio, ">=", GOALS.verifierVsJose),
  );
  const dpopVerifierName = "verifier library with a DPoP proof: verifications/s vs raw jose.jwtVerify";
  targets.push(
    "skipped" in dpopVerifier
      ? { name: dpopVerifierName, measured: null, goal: `>= ${GOALS.verifierWithDpopVsJose}×`, met: null, skipped: dpopVerifier.skipped }
      : ratioTarget(dpopVerifierName, dpopVerifier.vsJose, ">=", GOALS.verifierWithDpopVsJose),
  );
  const heapName = "broker live heap after load and a full GC (MB)";
  targets.push(
    "skipped" in memory
      ? { name: heapName, measured: null, goal: `<= ${GOALS.liveHeapBytes / MB} MB`, met: null, skipped: memory.skipped }
      : {
          name: heapName,
          measured: round(memory.liveAfterLoadBytes / MB, 1),
          goal: `<= ${GOALS.liveHeapBytes / MB} MB`,
          met: memory.liveAfterLoadBytes <= GOALS.liveHeapBytes,
        },
  );
  return targets;
}

export function ratio(value: number | undefined, floor: number | undefined): number | undefined {
  return value === undefined || floor === undefined || floor === 0 ? undefined : value / floor;
}

export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** One plain-text table (also valid Markdown), then the targets. */
export function formatReport(results: BenchResults): string {
  const lines: string[] = [];
  const header = [
    "scenario",
    "c",
    "req/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "CPU µs/req",
    "sys",
    "req/s vs peer",
    "p90 vs peer",
    "CPU vs peer",
    "req/s vs floor",
    "others",
    "notes",
  ];
  const rows: string[][] = [];
  const row = (r: Measured) => [
    r.label,
    String(r.concurrency),
    fmt(r.rps, 0),
    fmt(r.latencyMs.p50, 2),
    fmt(r.latencyMs.p90, 2),
    fmt(r.latencyMs.p99, 2),
    fmt(r.serverCpuUsPerRequest, 0),
    `${fmt(r.serverSystemShare * 100, 0)}%`,
    r.vsPeer ? `${fmt(r.vsPeer.rps, 2)}×` : "",
    r.vsPeer ? `${fmt(r.vsPeer.p90, 2)}×` : "",
    r.vsPeer ? `${fmt(r.vsPeer.cpuPerRequest, 2)}×` : "",
    r.vsFloor ? `${fmt(r.vsFloor.rps, 2)}×` : "",
    fmt(r.othersBusy, 2),
    notes(r),
  ];
  for (const r of results.runs) rows.push(row(r));
  const blank = (label: string, note: string) => [label, ...header.slice(1, -1).map(() => ""), note];
  for (const s of results.skipped) rows.push(blank(s.label, `skipped: ${s.reason}`));
  if ("runs" in results.manyAgents) for (const r of results.manyAgents.runs) rows.push(row(r));
  else rows.push(blank("many agents", `skipped: ${results.manyAgents.skipped}`));
  lines.push(markdownTable(header, rows));

  lines.push("");
  for (const r of results.runs) {
    if (!r.vsBase) continue;
    const base = results.runs.find((b) => b.id === r.base && b.concurrency === r.concurrency);
    lines.push(
      `c${r.concurrency}: ${r.label} ÷ ${base?.label ?? r.base}: req/s ${fmt(r.vsBase.rps, 2)}×, CPU per token ${fmt(r.vsBase.cpuPerRequest, 2)}×, ` +
        `p90 ${fmt(r.vsBase.p90, 2)}× (round-by-round medians)`,
    );
  }
  if ("runs" in results.manyAgents)
    for (const s of results.manyAgents.scaling)
      lines.push(
        `many agents, c${s.concurrency}: ${results.manyAgents.agents} agents = ${fmt(s.writ, 2)}× the req/s of one agent ` +
          `(floor: ${results.manyAgents.agents} objects = ${fmt(s.floor, 2)}× one object)`,
      );
  const v = results.verifier;
  lines.push(
    "skipped" in v
      ? `verifier: skipped (${v.skipped})`
      : `verifier: ${fmt(v.verifierPerSecond, 0)} verifications/s vs raw jose.jwtVerify ${fmt(v.joseJwtVerifyPerSecond, 0)}/s = ${fmt(v.ratio, 2)}×`,
  );
  const dv = results.dpopVerifier;
  lines.push(
    "skipped" in dv
      ? `verifier with a DPoP proof: skipped (${dv.skipped})`
      : `verifier with a DPoP proof (verifyRequest, bound token, fresh proof, in-memory replay store): ${fmt(dv.dpopPerSecond, 0)} verifications/s; ` +
          `verifyRequest with a Bearer token ${fmt(dv.bearerPerSecond, 0)}/s, raw jose.jwtVerify ${fmt(dv.joseJwtVerifyPerSecond, 0)}/s; ` +
          `DPoP ÷ jose ${fmt(dv.vsJose, 2)}×, DPoP ÷ Bearer ${fmt(dv.vsBearer, 2)}× (round-by-round medians)`,
  );
  const m = results.memory;
  lines.push(
    "skipped" in m
      ? `memory: skipped (${m.skipped})`
      : `memory: broker isolate peak heap ${fmt(m.peakUsedBytes / MB, 1)} MB used (garbage included) / ${fmt(m.peakTotalBytes / MB, 1)} MB reserved; ` +
          `live after load and a full GC ${fmt(m.liveAfterLoadBytes / MB, 1)} MB; idle at start ${fmt(m.idleUsedBytes / MB, 1)} MB; ${m.samples} samples ` +
          `(${m.byPath.map((p) => `${p.label}: ${fmt(p.peakUsedBytes / MB, 1)} MB`).join("; ")})`,
  );
  lines.push(
    "sys: the server's CPU spent in the kernel. others: cores used by other processes during the row (busiest round); rows marked noisy had others above " +
      `${NOISY_OTHERS} cores. vs peer: median of round-by-round ratios, Writ ÷ peer (req/s above 1 is better, p90 and CPU below 1).`,
  );
  const b = results.bundle;
  lines.push(
    "skipped" in b
      ? `bundle: skipped (${b.skipped})`
      : `bundle (wrangler deploy --dry-run): ${fmt(b.rawBytes / KB, 0)} KiB raw, ${fmt(b.gzipBytes / KB, 0)} KiB gzipped; heaviest: ` +
          b.heaviest
            .slice(0, 8)
            .map((h) => `${h.name} ${fmt(h.bytes / KB, 0)} KiB`)
            .join(", "),
  );
  const cold = results.coldStart;
  lines.push(
    "skipped" in cold
      ? `cold start: skipped (${cold.skipped})`
      : `cold start (fresh workerd, median of ${cold.samples}): broker restarts in ${fmt(cold.broker.startMs, 0)} ms, first token ${fmt(cold.broker.firstRequestMs, 1)} ms, ` +
          `${fmt(cold.broker.cpuMs, 0)} CPU ms for both; floor ${fmt(cold.floor.startMs, 0)} ms, ${fmt(cold.floor.firstRequestMs, 1)} ms, ${fmt(cold.floor.cpuMs, 0)} CPU ms; ` +
          `broker ÷ floor: restart ${fmt(cold.ratio.startMs, 2)}×, first token ${fmt(cold.ratio.firstRequestMs, 2)}×, CPU ${fmt(cold.ratio.cpuMs, 2)}×`,
  );
  for (const profile of results.profiles ?? []) {
    lines.push(`CPU profile, ${profile.path}, c${results.settings.targetConcurrency} (${profile.file}), self time:`);
    for (const f of profile.top) lines.push(`  ${fmt(f.selfPercent, 1).padStart(5)}%  ${f.name}`);
  }
  lines.push("");
  lines.push(
    markdownTable(
      ["target", "measured", "goal", "met"],
      results.targets.map((t) => [
        t.name,
        t.measured === null ? "" : String(t.measured),
        t.goal,
        t.met === null ? `skipped: ${t.skipped}` : t.met ? "yes" : "NO",
      ]),
    ),
  );
  const e = results.environment;
  lines.push("");
  lines.push(
    `${e.cpus} × ${e.cpuModel}, Node ${e.node}, ${e.workerd}, ${e.transport}; peer: ${e.peer}; ${e.pinning}; load average at start ${e.loadAverage.map((l) => l.toFixed(2)).join(" ")}; ` +
      `${results.settings.runSeconds} s per run after ${results.settings.warmupSeconds} s warm-up, median of ${results.settings.targetRounds} rounds at c${results.settings.targetConcurrency}; total ${fmt(results.durationSeconds, 0)} s`,
  );
  return lines.join("\n");
}

/** Cores used by everyone else during a row above which the row is marked noisy. */
const NOISY_OTHERS = 0.3;

function notes(r: Measured): string {
  const notes: string[] = [];
  if (r.ok === 0) notes.push("no 2xx answer within the run");
  if (r.non2xx > 0) notes.push(`${r.non2xx} non-2xx`);
  if (r.errors > 0) notes.push(`${r.errors} errors`);
  if (r.exhausted) notes.push("ran out of bodies");
  if (r.loadBusy > 0.9 && r.serverBusy < 0.85) notes.push("load-generator bound");
  else if (r.concurrency >= 16 && r.serverBusy < 0.7) notes.push(`server core ${Math.round(r.serverBusy * 100)}% busy: waits on I/O`);
  if (r.othersBusy > NOISY_OTHERS) notes.push("noisy: others busy, rerun");
  if (r.heapPeakBytes !== undefined) notes.push(`heap ≤ ${fmt(r.heapPeakBytes / MB, 1)} MB`);
  return notes.join("; ");
}

function fmt(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "–";
}

function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}
