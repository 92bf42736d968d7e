/**
 * The shape of `bench/results/latest.json`, the issue's targets computed from one run's measurements, and the
 * table `npm run bench` prints. Every Writ figure is read as a ratio against a floor measured in the same run,
 * on the same machine, minutes apart: absolute numbers move with the machine, ratios much less.
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
  loadBusy: number;
  heapPeakBytes?: number;
  /** The matching floor, and this run's ratios to it at the same concurrency. */
  floor?: string;
  vsFloor?: { rps: number; p90: number; cpuPerRequest: number };
};

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
  };
  runs: Measured[];
  skipped: Skipped[];
  /** `scaling`: req/s with load spread over all agents' objects ÷ req/s with one agent's object, for Writ and for the floor. */
  manyAgents: { agents: number; runs: Measured[]; scaling: { concurrency: number; writ: number; floor: number }[] } | { skipped: string };
  verifier: VerifierResult;
  memory: MemoryResult;
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

const MB = 1024 * 1024;
export const HEAP_GOAL_BYTES = 32 * MB;

/** The issue's targets, at the target concurrency. Issuance targets apply to every issuing path, measured or not yet. */
export function computeTargets(
  runs: readonly Measured[],
  skipped: readonly Skipped[],
  verifier: VerifierResult,
  memory: MemoryResult,
  concurrency: number,
): Target[] {
  const at = (id: string) => runs.find((r) => r.id === id && r.concurrency === concurrency);
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
  ];
  const floorRps = (id: string) => at(id)?.rps;
  for (const path of issuing) {
    const run = at(path.id);
    const reason = skipped.find((s) => s.id === path.id)?.reason;
    const isIssuance = !path.id.startsWith("writ.ciba");
    const c = `c${concurrency}`;
    if (isIssuance) {
      targets.push(
        ratioTarget(
          `${path.label}: req/s vs floor "verify + sign + DO write", ${c}`,
          ratio(run?.rps, floorRps(FLOOR.verifySignWrite)),
          ">=",
          1.0,
          reason,
        ),
        ratioTarget(`${path.label}: req/s vs floor "verify + sign", ${c}`, ratio(run?.rps, floorRps(FLOOR.verifySign)), ">=", 0.6, reason),
      );
    }
    targets.push(ratioTarget(`${path.label}: p90 vs matching floor's p90, ${c}`, run?.vsFloor?.p90, "<=", 2.0, reason));
  }

  targets.push(
    "skipped" in verifier
      ? {
          name: "verifier library: verifications/s vs raw jose.jwtVerify",
          measured: null,
          goal: ">= 0.9×",
          met: null,
          skipped: verifier.skipped,
        }
      : ratioTarget("verifier library: verifications/s vs raw jose.jwtVerify", verifier.ratio, ">=", 0.9),
    {
      name: "verifier library with a DPoP proof: verifications/s vs raw jose",
      measured: null,
      goal: ">= 0.9×",
      met: null,
      skipped: "DPoP does not exist yet",
    },
  );
  targets.push(
    "skipped" in memory
      ? { name: "broker peak heap under load (MB)", measured: null, goal: "<= 32 MB", met: null, skipped: memory.skipped }
      : {
          name: "broker peak heap under load (MB)",
          measured: round(memory.peakUsedBytes / MB, 1),
          goal: "<= 32 MB",
          met: memory.peakUsedBytes <= HEAP_GOAL_BYTES,
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
  const header = ["scenario", "c", "req/s", "p50 ms", "p90 ms", "p99 ms", "CPU µs/req", "req/s vs floor", "p90 vs floor", "notes"];
  const rows: string[][] = [];
  const row = (r: Measured) => [
    r.label,
    String(r.concurrency),
    fmt(r.rps, 0),
    fmt(r.latencyMs.p50, 2),
    fmt(r.latencyMs.p90, 2),
    fmt(r.latencyMs.p99, 2),
    fmt(r.serverCpuUsPerRequest, 0),
    r.vsFloor ? `${fmt(r.vsFloor.rps, 2)}×` : "",
    r.vsFloor ? `${fmt(r.vsFloor.p90, 2)}×` : "",
    notes(r),
  ];
  for (const r of results.runs) rows.push(row(r));
  for (const s of results.skipped) rows.push([s.label, "", "", "", "", "", "", "", "", `skipped: ${s.reason}`]);
  if ("runs" in results.manyAgents) for (const r of results.manyAgents.runs) rows.push(row(r));
  else rows.push(["many agents", "", "", "", "", "", "", "", "", `skipped: ${results.manyAgents.skipped}`]);
  lines.push(markdownTable(header, rows));

  lines.push("");
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
  const m = results.memory;
  lines.push(
    "skipped" in m
      ? `memory: skipped (${m.skipped})`
      : `memory: broker isolate peak heap ${fmt(m.peakUsedBytes / MB, 1)} MB used (garbage included) / ${fmt(m.peakTotalBytes / MB, 1)} MB reserved; ` +
          `live after load and a full GC ${fmt(m.liveAfterLoadBytes / MB, 1)} MB; idle at start ${fmt(m.idleUsedBytes / MB, 1)} MB; ${m.samples} samples ` +
          `(${m.byPath.map((p) => `${p.label}: ${fmt(p.peakUsedBytes / MB, 1)} MB`).join("; ")})`,
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
    `${e.cpus} × ${e.cpuModel}, Node ${e.node}, workerd ${e.workerd}, ${e.transport}; ${e.pinning}; load average at start ${e.loadAverage.map((l) => l.toFixed(2)).join(" ")}; ` +
      `${results.settings.runSeconds} s per run after ${results.settings.warmupSeconds} s warm-up, median of ${results.settings.targetRounds} rounds at c${results.settings.targetConcurrency}; total ${fmt(results.durationSeconds, 0)} s`,
  );
  return lines.join("\n");
}

function notes(r: Measured): string {
  const notes: string[] = [];
  if (r.ok === 0) notes.push("no 2xx answer within the run");
  if (r.non2xx > 0) notes.push(`${r.non2xx} non-2xx`);
  if (r.errors > 0) notes.push(`${r.errors} errors`);
  if (r.exhausted) notes.push("ran out of bodies");
  if (r.loadBusy > 0.9 && r.serverBusy < 0.85) notes.push("load-generator bound");
  else if (r.concurrency >= 16 && r.serverBusy < 0.7) notes.push(`server core ${Math.round(r.serverBusy * 100)}% busy: waits on I/O`);
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
