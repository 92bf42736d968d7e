import { describe, expect, it } from "vitest";
import { compilePolicy } from "../../core/policy/compile-policy.ts";
import demoPolicy from "../../policy/demo.policy.json";
import type { AuditRecord } from "../../schemas/audit.ts";
import { isDecision, pendingApprovals, recentDecisions } from "../../worker/admin/overview.ts";

const policy = compilePolicy(demoPolicy);
const NOW = Date.parse("2026-03-02T10:00:00Z");
const MIN = 60_000;
const REFUND = "billing.invoices.refund"; // 2 of dana, erin, frank; finance (erin or frank) needs 1; 15 min to decide
const EXPORT = "crm.customers.export"; // 1 of dana, alice; 15 min

let seq = 0;
function record(fields: Partial<AuditRecord> & Pick<AuditRecord, "type" | "ts">): AuditRecord {
  seq += 1;
  return { request_id: `r${seq}`, shard: "s", seq, prev_hash: "p", hash: "h", status: 200, ...fields };
}

function requested(id: string, minutesAgo: number, agent = "billing-agent", useCase = REFUND): AuditRecord {
  return record({
    type: "ciba_request",
    ts: NOW - minutesAgo * MIN,
    agent,
    use_case: useCase,
    decision: "approval_requested",
    approval_id: id,
    intent: `intent of ${id}`,
  });
}

function voted(id: string, approver: string, decision: "approve" | "deny", status = 200): AuditRecord {
  return record({ type: "approval_decision", ts: NOW - MIN, approval_id: id, approver, decision, status });
}

const open = (entries: Record<string, number>) => new Map(Object.entries(entries));

describe("pending approvals, rebuilt from the audit trail", () => {
  it("lists a request nobody has decided yet, with its expiry and the approvals it has", () => {
    const { rows, undescribed } = pendingApprovals({
      policy,
      records: [requested("a1", 5), voted("a1", "dana@example.com", "approve")],
      ledgerOpen: open({ "billing-agent": 1 }),
      now: NOW,
    });

    expect(undescribed).toBe(0);
    expect(rows).toEqual([
      {
        approvalId: "a1",
        agent: "billing-agent",
        useCase: REFUND,
        intent: "intent of a1",
        requestedAt: NOW - 5 * MIN,
        expiresAt: NOW + 10 * MIN,
        approvedBy: ["dana@example.com"],
        quorum: 2,
      },
    ]);
  });

  it("drops a request that expired, was denied, or met its quorum and every group", () => {
    const records = [
      requested("expired", 16),
      requested("denied", 3),
      voted("denied", "erin@example.com", "deny"),
      requested("approved", 2),
      voted("approved", "dana@example.com", "approve"),
      voted("approved", "frank@example.com", "approve"),
      // Two approvals but neither from finance: the group minimum still holds it open.
      requested("no-finance", 1),
      voted("no-finance", "dana@example.com", "approve"),
    ];
    const { rows } = pendingApprovals({ policy, records, ledgerOpen: open({ "billing-agent": 5 }), now: NOW });

    expect(rows.map((r) => r.approvalId)).toEqual(["no-finance"]);
  });

  it("counts no vote that the approval page refused", () => {
    const records = [requested("a2", 1, "support-bot", EXPORT), voted("a2", "alice@example.com", "approve", 403)];
    const { rows } = pendingApprovals({ policy, records, ledgerOpen: open({ "support-bot": 1 }), now: NOW });

    expect(rows.map((r) => [r.approvalId, r.approvedBy])).toEqual([["a2", []]]);
  });

  it("lists a request once, from when it was first opened, however often the agent repeated it", () => {
    const records = [requested("a3", 4), requested("a3", 2), requested("a3", 1)];
    const { rows } = pendingApprovals({ policy, records, ledgerOpen: open({ "billing-agent": 1 }), now: NOW });

    expect(rows.map((r) => [r.approvalId, r.requestedAt])).toEqual([["a3", NOW - 4 * MIN]]);
  });

  it("shows an agent no more requests than its ledger counts open (the kill switch closes them), newest first", () => {
    const records = [requested("old", 10), requested("new", 1), requested("other", 1, "support-bot", EXPORT)];

    const switchedOff = pendingApprovals({ policy, records, ledgerOpen: open({ "billing-agent": 1 }), now: NOW });
    expect(switchedOff.rows.map((r) => r.approvalId)).toEqual(["new"]);

    const unknown = pendingApprovals({ policy, records: [], ledgerOpen: open({ "billing-agent": 2 }), now: NOW });
    expect(unknown).toEqual({ rows: [], undescribed: 2 });
  });
});

describe("which audit records are decisions", () => {
  it("keeps grants, refusals, votes and kill switches; leaves out waiting polls, page views and admin reads", () => {
    expect(isDecision({ type: "token_request", decision: "denied", reason: "budget_exhausted" })).toBe(true);
    expect(isDecision({ type: "ciba_poll", decision: "denied", reason: "access_denied" })).toBe(true);
    expect(isDecision({ type: "ciba_poll", decision: "denied", reason: "authorization_pending" })).toBe(false);
    expect(isDecision({ type: "ciba_poll", decision: "denied", reason: "slow_down" })).toBe(false);
    expect(isDecision({ type: "admin_action", decision: "agent_disabled" })).toBe(true);
    expect(isDecision({ type: "admin_action", decision: "ok" })).toBe(false);
    expect(isDecision({ type: "admin_action", decision: "sign_in_required" })).toBe(false);
    expect(isDecision({ type: "approval_view", decision: "ok" })).toBe(false);
    expect(isDecision({ type: "approval_email", decision: "sent" })).toBe(false);
    expect(isDecision({ type: "admin_auth_failure", decision: "denied", reason: "admin_auth:bad_token" })).toBe(true);
  });

  it("lists the newest first, from `since` on, at most `limit`", () => {
    const records = [1, 2, 3, 4].map((m) => record({ type: "token_request", ts: NOW - m * MIN, decision: "issued" }));

    expect(recentDecisions(records, NOW - 3 * MIN, 2).map((r) => r.ts)).toEqual([NOW - MIN, NOW - 2 * MIN]);
    expect(recentDecisions(records, NOW - 3 * MIN, 10)).toHaveLength(3);
  });
});
