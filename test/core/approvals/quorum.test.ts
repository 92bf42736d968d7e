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

  // Issue 11: Access and the passkey store treat `Dana@x` and `dana@x` as one person. A request opened before
  // addresses were normalised kept the policy's spellings; one person must still count once there.
  it("counts one person once toward the quorum, whatever the spelling of their address", () => {
    const stored = { ...settings(), approvers: ["Dana@X.io", "dana@x.io", "erin@x.io"] };
    expect(eligibility(stored, "dana@x.io", undefined, [approve("Dana@X.io")])).toEqual({ ok: false, why: "already_decided" });
    expect(tally(stored, [approve("Dana@X.io"), approve("dana@x.io")])).toBe("pending");
    expect(tally(stored, [approve("Dana@X.io"), approve("erin@x.io")])).toBe("approved");
  });

  it("bars the owner under any spelling of their address", () => {
    expect(eligibility(settings(), "owner@x.io", "Owner@X.io", [])).toEqual({ ok: false, why: "owner_barred" });
    const stored = { ...settings(), approvers: ["a@x.io", "OWNER@x.io"] };
    expect(eligibility(stored, "OWNER@x.io", "owner@x.io", [])).toEqual({ ok: false, why: "owner_barred" });
  });

  it("counts a group member's vote under another spelling toward the group", () => {
    const grouped = settings({ groups: { security: { members: ["c@x.io"], min: 1 } } });
    const stored = { ...grouped, groups: { security: { members: ["C@X.io"], min: 1 } } };
    expect(tally(stored, [approve("a@x.io"), approve("c@x.io")])).toBe("approved");
  });

  it("refuses strangers and second votes", () => {
    expect(eligibility(settings(), "mallory@x.io", undefined, [])).toEqual({ ok: false, why: "not_an_approver" });
    expect(eligibility(settings(), "a@x.io", undefined, [approve("a@x.io")])).toEqual({ ok: false, why: "already_decided" });
  });
});
