import { WritApprovalExpired, WritBrokerUnavailable } from "./errors.ts";
import { type BackchannelStarted, cibaPollForm, parseTokenResponse } from "./protocol.ts";
import type { Clock, FetchLike, PendingApproval, WritToken } from "./types.ts";
import { type Caller, postForm, refusalError } from "./wire.ts";

/** OpenID CIBA §11 (as RFC 8628 §3.5): after `slow_down` the client adds 5 seconds to its interval, for good. */
export const SLOW_DOWN_STEP_SECONDS = 5;
/** A broker that stays unreachable this many polls in a row ends the wait; a blip in between is ridden out. */
const MAX_FAILED_POLLS = 3;
/** The broker answers `expired_token` itself; this bound only stops a broker that never does. */
const EXPIRY_GRACE_MS = 60_000;

export type PollContext = {
  fetch: FetchLike;
  clock: Clock;
  tokenEndpoint: string;
  caller: Caller & { useCase: string };
  intent: string | undefined;
  /** A fresh client assertion for each poll (each `jti` works once). */
  sign: () => Promise<string>;
  /** Extra headers for each poll: a fresh DPoP proof, so the approved token is bound to the agent's key. */
  headers?: (nowMs: number) => Promise<Record<string, string>>;
  onPending: ((pending: PendingApproval) => void | Promise<void>) | undefined;
  signal: AbortSignal | undefined;
};

/**
 * Polls the token endpoint with the CIBA grant (OpenID CIBA §7.3, §10.1, §11) until the approvers decide: waits
 * `interval` seconds before every poll, adds 5 s after each `slow_down`, and tells `onPending` once at the start
 * and after each poll that is still pending. Resolves with the token; rejects with `WritApprovalDenied`,
 * `WritApprovalExpired`, another `WritError`, or the signal's reason.
 */
export async function pollForApprovedToken(ctx: PollContext, started: BackchannelStarted, startedAtMs: number): Promise<WritToken> {
  const { clock, signal } = ctx;
  const expiresAt = startedAtMs + started.expiresIn * 1000;
  let interval = started.interval;
  let polls = 0;
  let failedInARow = 0;
  const notify = async () => {
    const pending: PendingApproval = {
      authReqId: started.authReqId,
      expiresIn: started.expiresIn,
      expiresAt,
      interval,
      polls,
      useCase: ctx.caller.useCase,
      intent: ctx.intent,
    };
    await ctx.onPending?.(pending);
  };

  await notify();
  for (;;) {
    if (clock.now() > expiresAt + EXPIRY_GRACE_MS)
      throw new WritApprovalExpired(`the approval for use case "${ctx.caller.useCase}" expired before the approvers decided`);
    await clock.sleep(interval * 1000, signal);
    signal?.throwIfAborted();
    const sentAt = clock.now();
    let reply: Awaited<ReturnType<typeof postForm>>;
    try {
      const form = cibaPollForm(ctx.caller.agentId, await ctx.sign(), started.authReqId);
      const headers = ctx.headers === undefined ? {} : await ctx.headers(sentAt);
      reply = await postForm(ctx.fetch, ctx.tokenEndpoint, form, { signal, nowMs: sentAt, headers });
    } catch (error) {
      // The approval lives on at the broker: an unreachable broker for one poll is no reason to drop it.
      if (error instanceof WritBrokerUnavailable && ++failedInARow < MAX_FAILED_POLLS) continue;
      throw error;
    }
    failedInARow = 0;
    polls++;
    if (reply.ok) return parseTokenResponse(reply.body, sentAt, reply.requestId);
    if (reply.refusal.error === "slow_down") interval += SLOW_DOWN_STEP_SECONDS;
    else if (reply.refusal.error !== "authorization_pending") throw refusalError(reply.refusal, "poll", ctx.caller);
    await notify();
  }
}
