import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { hashSecret } from "../../lib/crypto.ts";
import { decideAs, FROZEN_GRANT, openTestApproval, stored } from "../support/approval-fixture.ts";

const agent = FROZEN_GRANT.agentId;

describe("ApprovalRequest", () => {
  it("approves once the quorum of distinct approvers is reached, and yields its token once", async () => {
    const opened = await openTestApproval();
    await expect(opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 10_000)).resolves.toEqual({ status: "pending" });
    expect(await decideAs(opened, "a@example.com", "approve")).toMatchObject({ ok: true, status: "pending" });
    expect(await decideAs(opened, "b@example.com", "approve")).toMatchObject({ ok: true, status: "approved" });
    const collected = await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 20_000);
    expect(collected).toMatchObject({
      status: "approved",
      grant: FROZEN_GRANT,
      approval: { id: opened.approvalId, approved_by: ["a@example.com", "b@example.com"], request_hash: "test-hash" },
    });
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 30_000)).toEqual({ status: "collected" });
  });

  it("makes a link work once", async () => {
    const opened = await openTestApproval();
    expect(await decideAs(opened, "a@example.com", "approve")).toMatchObject({ ok: true });
    expect(await decideAs(opened, "a@example.com", "approve")).toEqual({ ok: false, problem: "link_used" });
  });

  it("ends the request on a deny and refuses further decisions", async () => {
    const opened = await openTestApproval();
    await decideAs(opened, "a@example.com", "approve");
    expect(await decideAs(opened, "b@example.com", "deny")).toMatchObject({ ok: true, status: "denied" });
    expect(await decideAs(opened, "c@example.com", "approve")).toEqual({ ok: false, problem: "decided" });
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 10_000)).toEqual({ status: "denied" });
  });

  it("never records two decisions for one approver clicking twice at once", async () => {
    const opened = await openTestApproval({ quorum: 1 });
    const tokenHash = await hashSecret(opened.links["a@example.com"] ?? "");
    const viewed = await opened.stub.view(tokenHash, opened.now + 1000);
    if (!viewed.ok) throw new Error(viewed.problem);
    const click = () =>
      opened.stub.decide({
        linkTokenHash: tokenHash,
        nonce: viewed.nonce,
        decision: "approve",
        authMethod: "link",
        now: opened.now + 2000,
      });
    const results = await Promise.all([click(), click(), click()]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    const rows = await runInDurableObject(opened.stub, (_i, state) => state.storage.sql.exec("SELECT * FROM decisions").toArray());
    expect(rows).toHaveLength(1);
  });

  it("settles an approve racing a deny into exactly one final state", async () => {
    const opened = await openTestApproval({ quorum: 1 });
    const [approved, denied] = await Promise.all([decideAs(opened, "a@example.com", "approve"), decideAs(opened, "b@example.com", "deny")]);
    const final = [approved, denied].filter((r) => r.ok && r.status !== "pending");
    expect(final).toHaveLength(1);
    const polled = await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 10_000);
    expect(polled.status).toBe(final[0]?.ok && final[0].status === "approved" ? "approved" : "denied");
  });

  it("hands out two concurrent polls of an approved request as one token", async () => {
    const opened = await openTestApproval({ quorum: 1 });
    await decideAs(opened, "a@example.com", "approve");
    const polls = await Promise.all([0, 1, 2].map(() => opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 10_000)));
    expect(polls.filter((p) => p.status === "approved")).toHaveLength(1);
  });

  it("expires by alarm, after which links and approvals no longer work", async () => {
    const opened = await openTestApproval({ request_ttl_seconds: 60 }, Date.now() - 61_000);
    expect(await runDurableObjectAlarm(opened.stub)).toBe(true);
    expect(await decideAs(opened, "a@example.com", "approve", Date.now())).toEqual({ ok: false, problem: "expired" });
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, Date.now())).toEqual({ status: "expired" });
  });

  it("refuses an approval that arrives after the deadline even before the alarm fired", async () => {
    const opened = await openTestApproval({ request_ttl_seconds: 60 });
    expect(await decideAs(opened, "a@example.com", "approve", opened.now + 60_000)).toEqual({ ok: false, problem: "expired" });
  });

  it("answers slow_down to an agent polling faster than the interval, and widens it", async () => {
    const opened = await openTestApproval();
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 1000)).toEqual({ status: "pending" });
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 2000)).toEqual({ status: "slow_down" });
    // The interval is now 10 s: 6 s later is still too fast.
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 8000)).toEqual({ status: "slow_down" });
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 30_000)).toEqual({ status: "pending" });
  });

  it("does not answer another agent or a wrong secret", async () => {
    const opened = await openTestApproval();
    expect(await opened.stub.poll(opened.authReqSecretHash, "support-bot", opened.now)).toEqual({ status: "unknown" });
    expect(await opened.stub.poll(await hashSecret("guess"), agent, opened.now)).toEqual({ status: "unknown" });
  });

  it("refuses a tampered or stale nonce and records nothing", async () => {
    const opened = await openTestApproval({ quorum: 1 });
    const tokenHash = await hashSecret(opened.links["a@example.com"] ?? "");
    const viewed = await opened.stub.view(tokenHash, opened.now);
    if (!viewed.ok) throw new Error(viewed.problem);
    const [ts, mac] = viewed.nonce.split(".");
    const attempt = (nonce: string, now: number) =>
      opened.stub.decide({ linkTokenHash: tokenHash, nonce, decision: "approve", authMethod: "link", now });
    expect(await attempt(`${Number(ts) + 1}.${mac}`, opened.now + 1000)).toEqual({ ok: false, problem: "bad_nonce" });
    expect(await attempt(viewed.nonce, opened.now + 11 * 60_000)).toEqual({ ok: false, problem: "bad_nonce" });
    // Another approver's nonce does not fit this link.
    const other = await opened.stub.view(await hashSecret(opened.links["b@example.com"] ?? ""), opened.now);
    if (!other.ok) throw new Error(other.problem);
    expect(await attempt(other.nonce, opened.now + 1000)).toEqual({ ok: false, problem: "bad_nonce" });
    expect(await attempt(viewed.nonce, opened.now + 1000)).toMatchObject({ ok: true, status: "approved" });
  });

  it("requires the policy's step-up method to approve, but lets anyone listed deny", async () => {
    const opened = await openTestApproval({ quorum: 1, approver_auth: ["passkey"], link_only: false });
    expect(await decideAs(opened, "a@example.com", "approve")).toEqual({ ok: false, problem: "auth_required" });
    expect(await decideAs(opened, "a@example.com", "deny")).toMatchObject({ ok: true, status: "denied" });
  });

  it("bars the agent's owner from approving", async () => {
    const opened = await openTestApproval({ approvers: ["a@example.com", "bob@example.com"], quorum: 1 });
    opened.links["bob@example.com"] = opened.links["bob@example.com"] ?? "";
    expect(await decideAs(opened, "bob@example.com", "approve")).toEqual({ ok: false, problem: "owner_barred" });
  });

  it("keeps GET views free of side effects", async () => {
    const opened = await openTestApproval({ quorum: 1 });
    const tokenHash = await hashSecret(opened.links["a@example.com"] ?? "");
    for (let i = 0; i < 3; i++) expect((await opened.stub.view(tokenHash, opened.now + i)).ok).toBe(true);
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 10_000)).toEqual({ status: "pending" });
  });

  it("cancels a pending request (kill switch) so it can no longer be approved", async () => {
    const opened = await openTestApproval({ quorum: 1 });
    expect(await opened.stub.cancel(opened.now)).toBe("cancelled");
    expect(await decideAs(opened, "a@example.com", "approve")).toEqual({ ok: false, problem: "cancelled" });
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 10_000)).toEqual({ status: "cancelled" });
  });

  it("expires an approved request whose token was not collected by the deadline (issue 11)", async () => {
    const opened = await openTestApproval({ quorum: 1, request_ttl_seconds: 60 });
    await decideAs(opened, "a@example.com", "approve");
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 60_000)).toEqual({ status: "expired" });
    expect(await stored(opened)).toMatchObject({ status: "expired" });
  });

  it("lets a lease run to its own end, past the request's deadline", async () => {
    const opened = await openTestApproval({ quorum: 1, request_ttl_seconds: 60, lease_seconds: 600 });
    await decideAs(opened, "a@example.com", "approve", opened.now + 50_000);
    expect((await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 70_000)).status).toBe("approved");
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 650_000)).toEqual({ status: "expired" });
  });

  it("cancels an approved request and a running lease, but leaves a collected token's request as it was", async () => {
    const approved = await openTestApproval({ quorum: 1 });
    await decideAs(approved, "a@example.com", "approve");
    expect(await approved.stub.cancel(approved.now + 2000)).toBe("cancelled");
    expect(await approved.stub.poll(approved.authReqSecretHash, agent, approved.now + 10_000)).toEqual({ status: "cancelled" });

    const leased = await openTestApproval({ quorum: 1, lease_seconds: 600 });
    await decideAs(leased, "a@example.com", "approve");
    expect((await leased.stub.poll(leased.authReqSecretHash, agent, leased.now + 10_000)).status).toBe("approved");
    expect(await leased.stub.cancel(leased.now + 11_000)).toBe("cancelled");
    expect(await leased.stub.poll(leased.authReqSecretHash, agent, leased.now + 20_000)).toEqual({ status: "cancelled" });

    const collected = await openTestApproval({ quorum: 1 });
    await decideAs(collected, "a@example.com", "approve");
    expect((await collected.stub.poll(collected.authReqSecretHash, agent, collected.now + 10_000)).status).toBe("approved");
    expect(await collected.stub.cancel(collected.now + 11_000)).toBe("approved");
  });

  it("cancels a live request on a poll the agent's ledger no longer has on its books", async () => {
    const opened = await openTestApproval({ quorum: 1 });
    await decideAs(opened, "a@example.com", "approve");
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 10_000, true)).toEqual({ status: "cancelled" });
    expect(await stored(opened)).toMatchObject({ status: "cancelled" });
  });

  it("grants tokens for the same request during a lease", async () => {
    const opened = await openTestApproval({ quorum: 1, lease_seconds: 600 });
    await decideAs(opened, "a@example.com", "approve", opened.now + 1000);
    expect((await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 10_000)).status).toBe("approved");
    expect((await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 20_000)).status).toBe("approved");
    expect(await opened.stub.poll(opened.authReqSecretHash, agent, opened.now + 1000 + 600_000)).toEqual({ status: "expired" });
  });
});
