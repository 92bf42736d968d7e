import type { PendingApproval, TokenRequest, WritToken } from "./types.ts";

/** More distinct requests than this (intents differ per task) and the oldest cached tokens go first. */
const MAX_CACHED_TOKENS = 500;

type Listener = (pending: PendingApproval) => void | Promise<void>;
type Flight = { promise: Promise<WritToken>; controller: AbortController; waiters: number; listeners: Set<Listener> };

/**
 * Equal requests, equal keys: every field that changes what the broker grants (or what approvers see) is in it,
 * and a context's key order is not.
 */
export function cacheKey(request: TokenRequest): string {
  const context = request.context === undefined ? null : Object.entries(request.context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([
    request.useCase,
    request.resource ?? null,
    request.actions ?? null,
    request.locations ?? null,
    request.intent ?? null,
    context,
  ]);
}

/**
 * Tokens per request until shortly before they expire, and one shared broker round trip (or approval) for
 * concurrent calls of the same request, so that parallel tool calls do not spend a budget twice or ask
 * approvers twice. Each caller can abort its own wait; the shared work stops only when every caller has.
 */
export class TokenCache {
  #tokens = new Map<string, { token: WritToken; marginMs: number }>();
  #flights = new Map<string, Flight>();

  /**
   * The cached token, while it is good for `refreshMs` more, or for half its lifetime when that is shorter (a
   * 60-second token is not thrown away after 30 s of a 30-second margin, nor kept to its last second).
   */
  fresh(key: string, nowMs: number): WritToken | undefined {
    const entry = this.#tokens.get(key);
    if (entry === undefined) return undefined;
    if (nowMs < entry.token.expiresAt - entry.marginMs) return entry.token;
    this.#tokens.delete(key);
    return undefined;
  }

  store(key: string, token: WritToken, nowMs: number, refreshMs: number): void {
    const lifetimeMs = token.expiresAt - nowMs;
    if (lifetimeMs <= 0) return;
    this.#tokens.delete(key);
    this.#tokens.set(key, { token, marginMs: Math.min(refreshMs, lifetimeMs / 2) });
    for (const [oldKey, old] of this.#tokens) {
      if (this.#tokens.size <= MAX_CACHED_TOKENS && old.token.expiresAt > nowMs) break;
      this.#tokens.delete(oldKey);
    }
  }

  clear(): void {
    this.#tokens.clear();
  }

  /** Joins the flight for `key`, starting it if there is none. */
  share(
    key: string,
    start: (signal: AbortSignal, notify: Listener) => Promise<WritToken>,
    options: { signal: AbortSignal | undefined; onPending: Listener | undefined },
  ): Promise<WritToken> {
    // Before anything starts: a call aborted already must not cost a round trip (or a budget unit).
    options.signal?.throwIfAborted();
    let flight = this.#flights.get(key);
    if (flight === undefined) {
      const controller = new AbortController();
      const listeners = new Set<Listener>();
      const notify: Listener = async (pending) => {
        for (const listener of [...listeners]) await listener(pending);
      };
      const promise = start(controller.signal, notify).finally(() => {
        if (this.#flights.get(key) === started) this.#flights.delete(key);
      });
      const started: Flight = { promise, controller, waiters: 0, listeners };
      this.#flights.set(key, started);
      flight = started;
    }
    return wait(flight, options.signal, options.onPending);
  }
}

function wait(flight: Flight, signal: AbortSignal | undefined, onPending: Listener | undefined): Promise<WritToken> {
  flight.waiters++;
  if (onPending !== undefined) flight.listeners.add(onPending);
  let left = false;
  const leave = (reason?: unknown) => {
    if (left) return;
    left = true;
    flight.waiters--;
    if (onPending !== undefined) flight.listeners.delete(onPending);
    if (reason !== undefined && flight.waiters === 0) flight.controller.abort(reason);
  };
  return new Promise<WritToken>((resolve, reject) => {
    const onAbort = () => {
      leave(signal?.reason);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    flight.promise.then(resolve, reject).finally(() => {
      signal?.removeEventListener("abort", onAbort);
      leave();
    });
  });
}
