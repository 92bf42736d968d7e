/**
 * Reports what a metered tool call consumed to the broker's `POST /usage`, with the MCP server's service credential,
 * so that daily unit budgets count real rows instead of each token's full `max_rows`.
 */
import { type DpopReplayStore, memoryDpopReplayStore } from "./dpop-replay-store.ts";
import type { JwksFetch } from "./options.ts";
import { misuse } from "./options.ts";

/**
 * @example
 * const usage: McpUsageOptions = { credential: env.WRIT_SERVICE_SECRET };
 */
export type McpUsageOptions = {
  /** This server's bearer secret at the broker (its `SERVICE_CREDENTIALS` entry, keyed by the server's resource URL). */
  credential: string;
  /** Default `${issuer}/usage`. */
  endpoint?: string;
  /** Default: the global `fetch`. */
  fetch?: JwksFetch;
  /** Default 5000. */
  timeoutMs?: number;
  /**
   * Where a token is marked as having made its one metered call, before the tool runs, so that it cannot run again
   * uncounted. Default: this process's memory (in a Worker, this isolate). A server running in several isolates or
   * instances passes a shared store, e.g. `durableObjectDpopReplayStore(env.DPOP_REPLAY)`.
   */
  spentStore?: DpopReplayStore;
};

/** `recorded`: counted. `spent`: the broker already has this token's report, so the token paid for an earlier call. */
export type UsageOutcome = "recorded" | "spent" | "unavailable";

export type UsageReporter = (token: string, units: Record<string, number>) => Promise<UsageOutcome>;

const BEARER_SECRET = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Resolves true once per token (its `jti`), before its metered call runs; false for every later call. Rejects when it cannot tell. */
export type SpendGuard = (jti: string, expiresAt: Date) => Promise<boolean>;

export function createSpendGuard(options: McpUsageOptions): SpendGuard {
  const store = options.spentStore ?? memoryDpopReplayStore();
  if (typeof store !== "object" || store === null || typeof store.useOnce !== "function")
    throw misuse("usage.spentStore must have a useOnce(key, expiresAt) method");
  // The jti first: a sharded store (the Durable Object one) routes by the part before the first ":".
  return (jti, expiresAt) => store.useOnce(`${jti}:usage`, expiresAt.getTime());
}

export function createUsageReporter(options: McpUsageOptions, issuer: string): UsageReporter {
  if (typeof options !== "object" || options === null) throw misuse("usage must be an object");
  // Never echoed: this may end up in a startup log.
  if (typeof options.credential !== "string" || !BEARER_SECRET.test(options.credential))
    throw misuse("usage.credential must be the service's bearer secret (a non-empty token without spaces)");
  const endpoint = options.endpoint ?? `${issuer}/usage`;
  if (!URL.canParse(endpoint)) throw misuse("usage.endpoint must be an absolute URL");
  const url = new URL(endpoint);
  if (url.protocol !== "https:" && !["localhost", "127.0.0.1", "[::1]"].includes(url.hostname))
    throw misuse("usage.endpoint must use https (plain http is allowed only for localhost)");
  const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const timeoutMs = options.timeoutMs ?? 5000;
  const authorization = `Bearer ${options.credential}`;

  return async (token, units) => {
    let response: Response;
    try {
      response = await fetchImpl(url.href, {
        method: "POST",
        headers: { authorization, "content-type": "application/json" },
        body: JSON.stringify({ token, units }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch {
      return "unavailable";
    }
    if (!response.ok) {
      await response.body?.cancel();
      return "unavailable";
    }
    const body = (await response.json().catch(() => undefined)) as { status?: unknown } | undefined;
    if (body?.status === "recorded") return "recorded";
    if (body?.status === "already_reported") return "spent";
    return "unavailable";
  };
}
