import { describe, expect, it } from "vitest";
import { eligibility, tally } from "../../../core/approvals/quorum.ts";
import { ApprovalSettingsSchema } from "../../../schemas/policy.ts";

const settings = (patch: Record<string, unknown> = {}) =>
  ApprovalSettingsSchema.parse({ approvers: ["a@x.io", "b@x.io", "c@x.io", "owner@x.io"], quorum: 2, ...patch });
const approve = (approver: string) => ({ approver, decision: "approve" as const });
const deny = (approver: string) => ({ approver, decision: "deny" as const });

describe("quorum", () => {
  it("stays pending until enough distinct approvers approve", () => {
    expect(tally(settings(), [])).toBe("pending");
    expect(tally(settings(), [approve("a@x.io")])).toBe("pending");
    expect(tally(settings(), [approve("a@x.io"), approve("a@x.io")])).toBe("pending");
    expect(tally(settings(), [approve("a@x.io"), approve("b@x.io")])).toBe("approved");
  });

  it("ends the request on any deny, even after approvals", () => {
    expect(tally(settings(), [approve("a@x.io"), deny("b@x.io")])).toBe("denied");
    expect(tally(settings({ quorum: 1 }), [deny("c@x.io")])).toBe("denied");
  });

  it("requires every group's minimum on top of the quorum", () => {
    const grouped = settings({ groups: { security: { members: ["c@x.io"], min: 1 } } });
    expect(tally(grouped, [approve("a@x.io"), approve("b@x.io")])).toBe("pending");
    expect(tally(grouped, [approve("a@x.io"), approve("b@x.io"), approve("c@x.io")])).toBe("approved");
    expect(tally(grouped, [approve("a@x.io"), approve("c@x.io")])).toBe("approved");
  });

  it("bars the agent's owner unless the policy allows it", () => {
    expect(eligibility(settings(), "owner@x.io", "owner@x.io", [])).toEqual({ ok: false, why: "owner_barred" });
    expect(eligibility(settings({ owner_may_approve: true }), "owner@x.io", "owner@x.io", [])).toEqual({ ok: true });
  });

  it("refuses strangers and second votes", () => {
    expect(eligibility(settings(), "mallory@x.io", undefined, [])).toEqual({ ok: false, why: "not_an_approver" });
    expect(eligibility(settings(), "a@x.io", undefined, [approve("a@x.io")])).toEqual({ ok: false, why: "already_decided" });
  });
});
