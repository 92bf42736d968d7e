/**
 * One timed load run with autocannon's programmatic API. Latency is taken from each response's own timing
 * (float milliseconds): autocannon's summary histogram rounds to whole milliseconds, too coarse for loopback.
 */
import autocannon from "autocannon";

/** A request body, or a body with headers of its own (a DPoP proof, one-time like the body). */
export type LoadBody = string | { body: string; headers: Record<string, string> };

export type LoadOptions = {
  url: string;
  method: "GET" | "POST";
  connections: number;
  durationSeconds: number;
  /** One body per request, consumed in order, never reused. Without it, `body` (or none) goes with every request. */
  bodies?: readonly LoadBody[];
  /** Send exactly one request per body, then end (`durationSeconds` is ignored): a count-bounded run. */
  onePerBody?: boolean;
  body?: string;
};

export type LoadResult = {
  connections: number;
  seconds: number;
  /** 2xx answers per second over the whole run. */
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** The run ran out of unique bodies before its time was up: it measured less than asked and is not trustworthy. */
  exhausted: boolean;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
};

const FORM = { "content-type": "application/x-www-form-urlencoded" };

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { bodies } = options;
  let next = 0;
  let exhausted = false;
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;

  const request: autocannon.Request = { method: options.method };
  if (options.method === "POST") request.headers = FORM;
  if (options.body !== undefined) request.body = options.body;
  if (bodies) {
    request.setupRequest = (req) => {
      let body = bodies[next++];
      if (body === undefined) {
        // Replaying a body would be refused and counted as non-2xx; the run is flagged instead of quietly skewed.
        exhausted = true;
        instance.stop();
        body = bodies[bodies.length - 1] as LoadBody;
      }
      return typeof body === "string" ? { ...req, body } : { ...req, body: body.body, headers: { ...req.headers, ...body.headers } };
    };
  }

  let finish: (result: autocannon.Result) => void = () => undefined;
  let failRun: (error: Error) => void = () => undefined;
  const finished = new Promise<autocannon.Result>((done, fail) => {
    finish = done;
    failRun = fail;
  });
  const instance = autocannon(
    {
      url: options.url,
      connections: options.connections,
      duration: options.durationSeconds,
      requests: [request],
      ...(options.onePerBody && bodies ? { amount: bodies.length } : {}),
      // Checks the stop flag often, so an exhausted body pool ends the run within 100 ms.
      sampleInt: 100,
      timeout: 10,
    },
    (error, result) => (error ? failRun(error) : finish(result)),
  );
  instance.on("response", (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
    if (statusCode >= 200 && statusCode < 300) {
      ok++;
      latencies.push(responseTimeMs);
    } else {
      non2xx++;
    }
  });
  const result = await finished;
  const seconds = result.duration;
  latencies.sort((a, b) => a - b);
  return {
    connections: options.connections,
    seconds,
    rps: ok / seconds,
    ok,
    non2xx,
    errors: result.errors,
    exhausted,
    latencyMs: {
      p50: percentile(latencies, 0.5),
      p90: percentile(latencies, 0.9),
      p99: percentile(latencies, 0.99),
      max: latencies.at(-1) ?? Number.NaN,
    },
  };
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}
