import { type ApprovalSettings, normaliseEmail } from "../../schemas/policy.ts";

type Vote = { approver: string; decision: "approve" | "deny" };
export type Tally = "pending" | "approved" | "denied";
export type Eligibility = { ok: true } | { ok: false; why: "not_an_approver" | "owner_barred" | "already_decided" };

/*
 * People are compared by their normalised address. A compiled policy is normalised already, but a request opened
 * before addresses were normalised keeps the policy's spelling in its stored settings, and `Dana@x` and `dana@x`
 * are one person to Access and to the passkey store: they must be one approver here too (issue 11), or one person
 * could count twice toward a quorum, or an owner could approve their own agent under another spelling.
 */

/** Whether this person may cast a vote on this request now. */
export function eligibility(settings: ApprovalSettings, approver: string, owner: string | undefined, votes: readonly Vote[]): Eligibility {
  const person = normaliseEmail(approver);
  if (!settings.approvers.some((a) => normaliseEmail(a) === person)) return { ok: false, why: "not_an_approver" };
  // Separation of duties: the person who answers for the agent does not also vouch for its requests.
  if (!settings.owner_may_approve && owner !== undefined && normaliseEmail(owner) === person) return { ok: false, why: "owner_barred" };
  if (votes.some((v) => normaliseEmail(v.approver) === person)) return { ok: false, why: "already_decided" };
  return { ok: true };
}

/** Any deny ends the request; approval needs `quorum` distinct people and every group's minimum. */
export function tally(settings: ApprovalSettings, votes: readonly Vote[]): Tally {
  if (votes.some((v) => v.decision === "deny")) return "denied";
  const approvers = new Set(votes.filter((v) => v.decision === "approve").map((v) => normaliseEmail(v.approver)));
  if (approvers.size < settings.quorum) return "pending";
  for (const group of Object.values(settings.groups)) {
    const members = new Set(group.members.map(normaliseEmail));
    if ([...members].filter((m) => approvers.has(m)).length < group.min) return "pending";
  }
  return "approved";
}
