import { log } from "../../lib/log.ts";
import type { WritEnv } from "../env.ts";

/** Why an agent was switched off: by an admin, by a usage report beyond a token's limits, or a reported leaked key. */
export type SwitchOffCause = "admin" | "usage_overuse" | "key_leaked";

/**
 * The kill switch: the agent's ledger refuses every new token and makes every token issued so far inactive at
 * /introspect (a not-before watermark), and every approval request it still had on its books, pending, approved
 * or leased, is cancelled, so no approval outlives the switch (issue 11). The ledger takes the requests off its
 * books in the same transaction, so a request whose cancelling fails here still can never be collected.
 * `cancelled`: how many requests were stopped (requests already final are left as they are).
 *
 * @example
 * const { cancelled } = await switchOff(c.env, "billing-agent", nowOf(c).getTime());
 */
export async function switchOff(
  env: WritEnv,
  agentId: string,
  now: number,
  cause: SwitchOffCause = "admin",
): Promise<{ cancelled: number }> {
  const { openApprovals } = await env.AGENT_LEDGER.getByName(agentId).setDisabled(true, now);
  return switchedOff(env, agentId, openApprovals, now, cause);
}

/**
 * The rest of a switch-off the ledger already made in its own transaction (a usage report beyond the token's
 * limits, with `disable_on_overuse`): cancel the requests it took off its books, and log it. One transaction for
 * the report and the switch, so a failure cannot leave an over-limit agent on.
 */
export async function switchedOff(
  env: WritEnv,
  agentId: string,
  openApprovals: readonly string[],
  now: number,
  cause: SwitchOffCause,
): Promise<{ cancelled: number }> {
  const cancelled = await cancelApprovals(env, openApprovals, now);
  log("warn", "agent_disabled", { agent: agentId, cause, cancelled_approvals: cancelled });
  return { cancelled };
}

/**
 * Switching back on lets new tokens through; tokens issued before stay inactive (the watermark stays), and requests
 * opened while the agent was off are cancelled: nothing started during the switch may yield a token after it.
 */
export async function switchOn(env: WritEnv, agentId: string, now: number): Promise<{ cancelled: number }> {
  const { openApprovals } = await env.AGENT_LEDGER.getByName(agentId).setDisabled(false, now);
  const cancelled = await cancelApprovals(env, openApprovals, now);
  log("warn", "agent_enabled", { agent: agentId, cancelled_approvals: cancelled });
  return { cancelled };
}

/**
 * Cancels each request so that its next poll says so. The ledger has taken them off its books already, which alone
 * keeps them from yielding a token: a request whose cancelling fails is cancelled at its next poll instead, so a
 * failure here is logged, not allowed to make a switch that took effect look failed.
 */
async function cancelApprovals(env: WritEnv, approvalIds: readonly string[], now: number): Promise<number> {
  const settled = await Promise.allSettled(approvalIds.map((id) => env.APPROVAL_REQUEST.getByName(id).cancel(now)));
  const failed = settled.filter((s) => s.status === "rejected").length;
  if (failed > 0) log("error", "approval_cancel_failed", { failed, of: approvalIds.length });
  return settled.filter((s) => s.status === "fulfilled" && s.value === "cancelled").length;
}
