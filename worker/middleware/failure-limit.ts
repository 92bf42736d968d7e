import type { Context, MiddlewareHandler } from "hono";
import { clientNetwork } from "../../core/audit/client-network.ts";
import { isUnauthenticatedFailure } from "../../core/audit/noise.ts";
import { log } from "../../lib/log.ts";
import { retryAfterSeconds, SECOND_MS } from "../../lib/time.ts";
import type { AppEnv } from "../app-env.ts";
import { note } from "../audit/note.ts";
import { refuse } from "../http/refuse.ts";
import { nowOf } from "../http/request-context.ts";

/** The limiters' period (`period` of both `[[ratelimits]]` in wrangler.toml): how long a network stays refused once over. */
export const FAILURE_WINDOW_SECONDS = 60;
/** Networks one isolate remembers as refused; beyond this the oldest is forgotten (the limiter still counts it). */
const MAX_REFUSED_NETWORKS = 10_000;

/** Admin paths have their own, smaller budget (ADMIN_AUTH_LIMITER): guessing the admin token is the prize. */
type Scope = "any" | "admin";
const LIMITERS = { any: "FAILURE_LIMITER", admin: "ADMIN_AUTH_LIMITER" } as const satisfies Record<Scope, keyof AppEnv["Bindings"]>;

/** `<scope> <network>` → until when (epoch ms) this isolate refuses the network without asking the limiter. */
const refused = new Map<string, number>();

/**
 * Online guessing and floods of garbage: each unauthenticated failure (`core/audit/noise.ts`) counts against the
 * client's network (IPv4 /24, IPv6 /48) in a Workers rate limiter. The failure that goes over the limit is answered
 * 429 instead of its own refusal, and from then on, for the limiter's period, every request from that network is
 * refused with 429 and `Retry-After` before any work: no form is read, no signature checked, no Durable Object
 * touched. That includes a correct admin token from a network that has been guessing: letting it through would tell
 * the guesser which guess was right. The limiter has no way to ask without counting, so the refusal before work
 * is remembered per isolate; another isolate learns it from the limiter at the network's next failure there.
 * Requests without a client address (service bindings, tests) and the public discovery documents are not limited.
 */
export function failureLimit(): MiddlewareHandler<AppEnv> {
  return async function failureLimitHandler(c, next) {
    const network = clientNetwork(c.req.header("cf-connecting-ip"));
    if (network === undefined || c.req.path.startsWith("/.well-known/")) return next();
    const scope: Scope = c.req.path === "/admin" || c.req.path.startsWith("/admin/") ? "admin" : "any";
    const limiter = limiterOf(c, scope);
    const now = nowOf(c).getTime();
    const until = Math.max(refusedUntil("any", network, now), refusedUntil(scope, network, now));
    if (until > now) return tooMany(c, until - now);

    await next();
    const outcome = c.get("outcome");
    if (!isUnauthenticatedFailure(outcome) || (await withinLimit(limiter, scope, network))) return;
    remember(scope, network, now + FAILURE_WINDOW_SECONDS * SECOND_MS);
    const failed = outcome.failure === undefined ? outcome.reason : `${outcome.reason}:${outcome.failure}`;
    // Dropped first: Hono would otherwise copy the refused response's headers (its challenge, say) onto the 429.
    c.res = undefined;
    c.res = tooMany(c, FAILURE_WINDOW_SECONDS * SECOND_MS);
    note(c, { failure: undefined, detail: failed });
  };
}

function tooMany(c: Context<AppEnv>, waitMs: number): Response {
  return refuse(c, { code: "too_many_failures", retryAfterSeconds: retryAfterSeconds(waitMs) });
}

/** A missing binding is a deployment mistake: it fails loudly rather than leave guessing unlimited. */
function limiterOf(c: Context<AppEnv>, scope: Scope): RateLimit {
  const limiter = c.env[LIMITERS[scope]] as RateLimit | undefined;
  if (!limiter)
    throw new Error(`Writ misconfigured: the ${LIMITERS[scope]} rate-limiting binding is missing (wrangler.toml [[ratelimits]])`);
  return limiter;
}

/** Counts one failure. The limiter being unreachable is no reason to refuse everyone: say so loudly and let the request be. */
async function withinLimit(limiter: RateLimit, scope: Scope, network: string): Promise<boolean> {
  try {
    return (await limiter.limit({ key: network })).success;
  } catch (error) {
    log("error", "failure_limiter_unavailable", {
      limiter: LIMITERS[scope],
      message: error instanceof Error ? error.message : String(error),
    });
    return true;
  }
}

function refusedUntil(scope: Scope, network: string, now: number): number {
  const key = `${scope} ${network}`;
  const until = refused.get(key) ?? 0;
  if (until <= now) refused.delete(key);
  return until;
}

function remember(scope: Scope, network: string, until: number): void {
  const key = `${scope} ${network}`;
  refused.delete(key);
  refused.set(key, until);
  // A Map iterates in insertion order: the first entries are the oldest.
  for (const oldest of refused.keys()) {
    if (refused.size <= MAX_REFUSED_NETWORKS) break;
    refused.delete(oldest);
  }
}
