import type { ApprovalSettings } from "../../schemas/policy.ts";

type Vote = { approver: string; decision: "approve" | "deny" };
export type Tally = "pending" | "approved" | "denied";
export type Eligibility = { ok: true } | { ok: false; why: "not_an_approver" | "owner_barred" | "already_decided" };

/** Whether this person may cast a vote on this request now. */
export function eligibility(settings: ApprovalSettings, approver: string, owner: string | undefined, votes: readonly Vote[]): Eligibility {
  if (!settings.approvers.includes(approver)) return { ok: false, why: "not_an_approver" };
  // Separation of duties: the person who answers for the agent does not also vouch for its requests.
  if (!settings.owner_may_approve && owner !== undefined && owner === approver) return { ok: false, why: "owner_barred" };
  if (votes.some((v) => v.approver === approver)) return { ok: false, why: "already_decided" };
  return { ok: true };
}

/** Any deny ends the request; approval needs `quorum` distinct approvers and every group's minimum. */
export function tally(settings: ApprovalSettings, votes: readonly Vote[]): Tally {
  if (votes.some((v) => v.decision === "deny")) return "denied";
  const approvers = new Set(votes.filter((v) => v.decision === "approve").map((v) => v.approver));
  if (approvers.size < settings.quorum) return "pending";
  for (const group of Object.values(settings.groups)) {
    if (group.members.filter((m) => approvers.has(m)).length < group.min) return "pending";
  }
  return "approved";
}
