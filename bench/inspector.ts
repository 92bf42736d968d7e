/**
 * A minimal Chrome DevTools Protocol client for one workerd worker (workerd's `--inspector-addr`, which Miniflare
 * opens with `inspectorPort`): heap usage of the worker's isolate, and V8 CPU profiles. Node 22's global
 * WebSocket is enough; no devtools package is needed.
 */

/** V8 `Runtime.getHeapUsage`: bytes of live objects (used) and of heap reserved for them (total). */
export type HeapUsage = { usedSize: number; totalSize: number };

/** What `Profiler.stop` returns (the `.cpuprofile` format Chrome DevTools and speedscope open). */
export type CpuProfile = {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
};

export type WorkerInspector = {
  heapUsage(): Promise<HeapUsage>;
  /** A full GC first, so what is left is live data rather than garbage not yet collected. */
  liveHeapUsage(): Promise<HeapUsage>;
  /** Samples heap usage every `intervalMs` until the returned stop() is called; resolves to the peak seen. */
  watchHeap(intervalMs: number): { stop(): Promise<{ peak: HeapUsage; samples: number }> };
  startProfile(): Promise<void>;
  stopProfile(): Promise<CpuProfile>;
  close(): void;
};

const CALL_TIMEOUT_MS = 30_000;

/**
 * Connects to the inspector target of one worker. Miniflare names user workers `core:user:<name>`; workers
 * started from a wrangler config through `unstable_getMiniflareWorkerOptions` have the empty name.
 */
export async function connectInspector(inspectorUrl: string, workerName = ""): Promise<WorkerInspector> {
  const targets = (await (await fetch(`${inspectorUrl}/json`)).json()) as { id: string; webSocketDebuggerUrl: string }[];
  const target = targets.find((t) => t.id === `core:user:${workerName}`);
  if (!target) throw new Error(`workerd's inspector has no target core:user:${workerName} (has ${targets.map((t) => t.id).join(", ")})`);

  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise<void>((done, fail) => {
    socket.addEventListener("open", () => done(), { once: true });
    socket.addEventListener("error", () => fail(new Error(`cannot connect to ${target.webSocketDebuggerUrl}`)), { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, { done: (result: unknown) => void; fail: (error: Error) => void }>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (message.id === undefined) return;
    const call = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) call?.fail(new Error(`inspector: ${message.error.message}`));
    else call?.done(message.result);
  });

  function call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = nextId++;
    return new Promise<T>((done, fail) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        fail(new Error(`inspector: ${method} got no answer within ${CALL_TIMEOUT_MS} ms`));
      }, CALL_TIMEOUT_MS);
      pending.set(id, {
        done: (result) => {
          clearTimeout(timer);
          done(result as T);
        },
        fail: (error) => {
          clearTimeout(timer);
          fail(error);
        },
      });
      socket.send(JSON.stringify({ id, method, params }));
    });
  }

  const heapUsage = () => call<HeapUsage>("Runtime.getHeapUsage");

  return {
    heapUsage,
    async liveHeapUsage() {
      await call("HeapProfiler.collectGarbage");
      return heapUsage();
    },
    watchHeap(intervalMs) {
      let peak: HeapUsage = { usedSize: 0, totalSize: 0 };
      let samples = 0;
      let inFlight: Promise<void> = Promise.resolve();
      const sample = (): void => {
        inFlight = heapUsage().then((usage) => {
          samples++;
          peak = { usedSize: Math.max(peak.usedSize, usage.usedSize), totalSize: Math.max(peak.totalSize, usage.totalSize) };
        });
      };
      sample();
      const timer = setInterval(sample, intervalMs);
      return {
        async stop() {
          clearInterval(timer);
          await inFlight;
          return { peak, samples };
        },
      };
    },
    async startProfile() {
      await call("Profiler.enable");
      // 100 µs: fine enough to attribute a ~0.3 ms request, coarse enough not to slow it much.
      await call("Profiler.setSamplingInterval", { interval: 100 });
      await call("Profiler.start");
    },
    async stopProfile() {
      const { profile } = await call<{ profile: CpuProfile }>("Profiler.stop");
      await call("Profiler.disable");
      return profile;
    },
    close() {
      socket.close();
    },
  };
}

/** Self time per function, heaviest first: where the worker's CPU went while the profile ran. */
export function topFunctions(profile: CpuProfile, count: number): { name: string; selfPercent: number }[] {
  const selfSamples = new Map<number, number>();
  for (const sample of profile.samples) selfSamples.set(sample, (selfSamples.get(sample) ?? 0) + 1);
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const samples = selfSamples.get(node.id) ?? 0;
    if (samples === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.split("/").at(-1) ?? "";
    const name = `${functionName || "(anonymous)"}${file ? ` ${file}:${lineNumber + 1}` : ""}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + samples);
  }
  const total = profile.samples.length || 1;
  return [...byFunction.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, samples]) => ({ name, selfPercent: Math.round((samples / total) * 1000) / 10 }));
}
