import type { ApprovalStatus } from "../../schemas/approval.ts";
import type { WritEnv } from "../env.ts";

/**
 * After a decision: a request that is no longer pending stops counting against the agent's open-request cap
 * and stops being the answer to an identical new request. An approved request stays on the agent's books until
 * it can no longer yield a token, so that the kill switch can still cancel it.
 */
export async function afterDecision(
  env: WritEnv,
  decided: { agentId: string; requestHash: string },
  status: ApprovalStatus,
): Promise<void> {
  if (status === "pending") return;
  await env.AGENT_LEDGER.getByName(decided.agentId).closeApproval(decided.requestHash, status);
}
