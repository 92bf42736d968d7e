/**
 * An agent (or whoever holds its key) tries to get a token out of an approval that should no longer yield one
 * (issue 11, item 2): an approval left uncollected past its deadline, a lease or an approval that lived through the
 * kill switch, a request opened while the agent was switched off, and an approval collected after the policy
 * changed. Each refusal pins the exact wire answer, the request's state after it, and that the ledger recorded no
 * token.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { UseCase } from "../../schemas/policy.ts";
import {
  approvalIdOf,
  approvalState,
  decideByMail,
  ledgerTokenIds,
  letTimePass,
  pollForm,
  startApproval,
  withUseCase,
} from "../support/ciba.ts";
import { ADMIN_BEARER, brokerPostForm } from "../support/requests.ts";
import { type ExpectedRefusal, expectIssued, expectRefusal } from "../support/token-checks.ts";
import { postToken } from "../support/token-endpoint.ts";

const AGENT = "billing-agent";
const REFUND = "billing.invoices.refund";

/** Opens a refund request and has the quorum (one of them from finance) approve it; its auth_req_id. */
async function approvedRequest(): Promise<{ authReqId: string; approvalId: string }> {
  const started = await startApproval(AGENT, { scope: REFUND, intent: `refund ${crypto.randomUUID()}` });
  expect(started.status).toBe(200);
  const { auth_req_id: authReqId } = await started.json<{ auth_req_id: string }>();
  const approvalId = approvalIdOf(authReqId);
  expect(await decideByMail(approvalId, "dana@example.com")).toMatchObject({ ok: true, status: "pending" });
  expect(await decideByMail(approvalId, "erin@example.com")).toMatchObject({ ok: true, status: "approved" });
  return { authReqId, approvalId };
}

async function poll(authReqId: string) {
  return postToken(await pollForm(AGENT, authReqId));
}

async function killSwitch(action: "disable" | "enable"): Promise<Record<string, unknown>> {
  const res = await brokerPostForm(`/admin/agents/${AGENT}/${action}`, null, ADMIN_BEARER);
  expect(res.status).toBe(200);
  return res.json();
}

const withLease = (useCase: UseCase): UseCase => ({
  ...useCase,
  approval: useCase.approval && { ...useCase.approval, lease_seconds: 600 },
});

type Collection = {
  /** The request's status after the refusal. */
  status: "approved" | "expired" | "cancelled";
  /** The policy as redeployed between the approval and the collection. */
  policy?: (useCase: UseCase) => UseCase;
  deadlinePassed?: boolean;
};

/** A collection refused: the exact wire answer, the request's state after it, and no token recorded. */
async function expectRefusedCollection(authReqId: string, refusal: ExpectedRefusal, collection: Collection): Promise<void> {
  const approvalId = approvalIdOf(authReqId);
  const tokens = await ledgerTokenIds(AGENT);
  await letTimePass(approvalId, { deadlinePassed: collection.deadlinePassed ?? false });
  const { policy } = collection;
  expectRefusal(await (policy ? withUseCase(REFUND, policy, () => poll(authReqId)) : poll(authReqId)), refusal);
  expect(await approvalState(approvalId)).toMatchObject({ status: collection.status });
  expect(await ledgerTokenIds(AGENT)).toEqual(tokens);
}

const CANCELLED: ExpectedRefusal = {
  status: 403,
  error: "access_denied",
  reason: "approval_cancelled",
  description: "the request was cancelled",
};

/** The policy changed since the approval in a way the token cannot be narrowed to. */
const outdated = (detail: string): ExpectedRefusal => ({
  status: 403,
  error: "access_denied",
  reason: "approval_outdated",
  description: `the policy changed since the approval (${detail}): ask for a new approval`,
});

describe("an approval ends at the request's deadline", () => {
  it("refuses to collect an approved request after its deadline with expired_token, and issues nothing", async () => {
    const { authReqId } = await approvedRequest();
    const expired: ExpectedRefusal = {
      status: 400,
      error: "expired_token",
      reason: "approval_expired",
      description: "the approval request expired",
    };
    await expectRefusedCollection(authReqId, expired, { status: "expired", deadlinePassed: true });
  });
});

describe("the kill switch cancels approved requests and leases, not only pending ones", () => {
  it("refuses a lease's next token after the agent was disabled and enabled again", async () => {
    const { authReqId } = await withUseCase(REFUND, withLease, approvedRequest);
    expectIssued(await poll(authReqId));
    expect(await killSwitch("disable")).toMatchObject({ disabled: true, cancelled_approvals: 1 });
    expect(await killSwitch("enable")).toMatchObject({ disabled: false, cancelled_approvals: 0 });
    await expectRefusedCollection(authReqId, CANCELLED, { status: "cancelled" });
  });

  it("refuses to collect an approved request after the agent was disabled and enabled again", async () => {
    const { authReqId } = await approvedRequest();
    expect(await killSwitch("disable")).toMatchObject({ cancelled_approvals: 1 });
    await killSwitch("enable");
    await expectRefusedCollection(authReqId, CANCELLED, { status: "cancelled" });
  });

  it("refuses a request opened while the agent was switched off, once it is back on", async () => {
    await killSwitch("disable");
    const { authReqId } = await approvedRequest();
    expect(await killSwitch("enable")).toMatchObject({ disabled: false, cancelled_approvals: 1 });
    await expectRefusedCollection(authReqId, CANCELLED, { status: "cancelled" });
  });

  it("refuses the collection even when cancelling the request itself failed: the ledger took it off its books", async () => {
    const { authReqId, approvalId } = await approvedRequest();
    // The switch as far as the ledger: the request's own Durable Object never heard of it.
    const ledger = env.AGENT_LEDGER.getByName(AGENT);
    expect(await ledger.setDisabled(true, Date.now())).toEqual({ openApprovals: [approvalId] });
    await ledger.setDisabled(false, Date.now());
    expect(await approvalState(approvalId)).toMatchObject({ status: "approved" });
    await expectRefusedCollection(authReqId, CANCELLED, { status: "cancelled" });
  });
});

describe("collection decides the frozen request again under today's policy", () => {
  /** A window of one hour that does not contain the current UTC hour. */
  const elsewhen = () => (new Date().getUTCHours() < 12 ? { start: "13:00", end: "14:00" } : { start: "01:00", end: "02:00" });
  const everyDay = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

  it("refuses outside the use case's time window, naming the rule, and hands the approval back for later", async () => {
    const { authReqId, approvalId } = await approvedRequest();
    const outside = (u: UseCase): UseCase => ({
      ...u,
      conditions: { ...u.conditions, time_windows: [{ days: [...everyDay], ...elsewhen() }] },
    });
    const refusal: ExpectedRefusal = {
      status: 403,
      error: "access_denied",
      reason: "outside_time_window",
      description: "condition time_windows: outside the allowed time window (UTC)",
    };
    await expectRefusedCollection(authReqId, refusal, { status: "approved", policy: outside });
    // Inside the window again, the approval still yields its one token.
    await letTimePass(approvalId);
    expectIssued(await poll(authReqId));
  });

  it("refuses once the agent is no longer allowed the use case", async () => {
    const { authReqId } = await approvedRequest();
    const refusal: ExpectedRefusal = { status: 400, error: "invalid_scope", reason: "use_case_not_allowed" };
    await expectRefusedCollection(authReqId, refusal, { status: "approved", policy: (u) => ({ ...u, agents: ["support-bot"] }) });
  });

  it("refuses once an approver who approved was removed and the rest no longer make the quorum", async () => {
    const { authReqId } = await approvedRequest();
    const withoutErin = (u: UseCase): UseCase => ({
      ...u,
      approval: u.approval && {
        ...u.approval,
        approvers: u.approval.approvers.filter((a) => a !== "erin@example.com"),
        groups: { finance: { members: ["frank@example.com"], min: 1 } },
      },
    });
    const refusal = outdated("its approvals no longer meet the use case's approvers and quorum");
    await expectRefusedCollection(authReqId, refusal, { status: "approved", policy: withoutErin });
  });

  it("refuses when a limit that cannot be ordered changed since the approval", async () => {
    const { authReqId } = await approvedRequest();
    const policy = (u: UseCase): UseCase => ({ ...u, limits: { ...u.limits, currency: "EUR" } });
    await expectRefusedCollection(authReqId, outdated("limit currency changed"), { status: "approved", policy });
  });

  it("issues no more than the approvers saw nor today's policy allows: the shorter TTL and the tighter numeric limits", async () => {
    const { authReqId } = await approvedRequest();
    // Approved: 300 s, max_refund_cents 50000, max_calls 10. Today: 60 s, 100 cents, 50 calls.
    const today = (u: UseCase): UseCase => ({ ...u, max_ttl_seconds: 60, limits: { max_refund_cents: 100, max_calls: 50 } });
    const issued = await withUseCase(REFUND, today, () => poll(authReqId));
    expectIssued(issued);
    expect(issued.body).toMatchObject({
      expires_in: 60,
      authorization_details: [{ use_case: REFUND, limits: { max_refund_cents: 100, max_calls: 10 } }],
    });
  });
});
