import { jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { ISSUER } from "../support/assertions.ts";
import { approvalIdOf, decideByMail, letTimePass, pollApproval, sentMails, startApproval } from "../support/ciba.ts";
import { CIBA_GRANT, type OAuthError } from "../support/oauth.ts";
import { brokerGet, brokerJwks, brokerPostForm } from "../support/requests.ts";

const REFUND = { scope: "billing.invoices.refund", intent: "refund invoice INV-42 (duplicate charge)" };
type Started = { auth_req_id: string; expires_in: number; interval: number };

async function start(params: Record<string, string> = REFUND): Promise<Started> {
  const res = await startApproval("billing-agent", params);
  expect(res.status).toBe(200);
  return res.json<Started>();
}

describe("CIBA: POST /bc-authorize then poll /token", () => {
  it("starts a request, mails each approver a link of their own, and tells the agent how to poll", async () => {
    const started = await start();
    expect(started.auth_req_id).toMatch(/^[\w-]{22}\.[\w-]{43}$/);
    expect(started.interval).toBe(5);
    expect(started.expires_in).toBeGreaterThan(890);
    const mails = await sentMails(approvalIdOf(started.auth_req_id));
    expect(mails.map((m) => m.to).sort()).toEqual(["dana@example.com", "erin@example.com", "frank@example.com"]);
    const links = new Set(mails.map((m) => new URL(m.link).searchParams.get("t")));
    expect(links.size).toBe(3);
    // The agent never sees a link token.
    for (const token of links) expect(started.auth_req_id).not.toContain(token ?? "");
    expect(mails[0]?.subject).toContain("Billing reconciliation agent");
    expect(mails[0]?.subject).toContain("billing.invoices.refund");
  });

  it("answers authorization_pending until the quorum approves, then issues the approved token once", async () => {
    const { auth_req_id } = await start();
    const approvalId = approvalIdOf(auth_req_id);
    const pending = await pollApproval("billing-agent", auth_req_id);
    expect(pending.status).toBe(400);
    expect(await pending.json<OAuthError>()).toMatchObject({ error: "authorization_pending" });

    expect(await decideByMail(approvalId, "dana@example.com")).toMatchObject({ ok: true, status: "pending" });
    expect(await decideByMail(approvalId, "erin@example.com")).toMatchObject({ ok: true, status: "approved" });

    // Polls by the same agent are rate-limited by the interval: let it pass (no sleeping).
    await letTimePass(approvalId);
    const issued = await pollApproval("billing-agent", auth_req_id);
    expect(issued.status).toBe(200);
    const body = await issued.json<{ access_token: string; scope: string }>();
    const { payload } = await jwtVerify(body.access_token, await brokerJwks(), {
      issuer: ISSUER,
      audience: "https://billing.example.com",
      typ: "at+jwt",
    });
    expect(payload).toMatchObject({
      sub: "billing-agent",
      scope: "billing.invoices.refund",
      intent: REFUND.intent,
      approval: { id: approvalId, approved_by: ["dana@example.com", "erin@example.com"] },
    });
    expect((payload.approval as { request_hash: string }).request_hash).toMatch(/^[\w-]{43}$/);

    await letTimePass(approvalId);
    const again = await pollApproval("billing-agent", auth_req_id);
    expect(await again.json<OAuthError>()).toMatchObject({ error: "invalid_grant" });
  });

  it("needs a member of every group: two approvals outside the finance group are not enough", async () => {
    const { auth_req_id } = await start({ ...REFUND, intent: "refund invoice INV-43" });
    const approvalId = approvalIdOf(auth_req_id);
    expect(await decideByMail(approvalId, "dana@example.com")).toMatchObject({ status: "pending" });
    expect(await decideByMail(approvalId, "frank@example.com")).toMatchObject({ status: "approved" });
  });

  it("answers access_denied after a deny", async () => {
    const { auth_req_id } = await start({ ...REFUND, intent: "refund invoice INV-44" });
    await decideByMail(approvalIdOf(auth_req_id), "frank@example.com", "deny");
    const res = await pollApproval("billing-agent", auth_req_id);
    expect(res.status).toBe(403);
    expect(await res.json<OAuthError>()).toMatchObject({ error: "access_denied" });
  });

  it("deduplicates an identical pending request without mailing approvers again", async () => {
    const params = { ...REFUND, intent: "refund invoice INV-45" };
    const first = await start(params);
    const second = await start(params);
    expect(second.auth_req_id).toBe(first.auth_req_id);
    expect(await sentMails(approvalIdOf(first.auth_req_id))).toHaveLength(3);
    await decideByMail(approvalIdOf(first.auth_req_id), "dana@example.com", "deny");
  });

  it("opens a new request when anything in it differs", async () => {
    const first = await start({ ...REFUND, intent: "refund invoice INV-46" });
    const second = await start({ ...REFUND, intent: "refund invoice INV-47" });
    expect(second.auth_req_id).not.toBe(first.auth_req_id);
    // Decided requests stop counting against the agent's open-request cap.
    for (const { auth_req_id } of [first, second]) await decideByMail(approvalIdOf(auth_req_id), "dana@example.com", "deny");
  });

  it("refuses approval for a use case that needs none", async () => {
    const res = await startApproval("billing-agent", { scope: "crm.customers.read" });
    expect(res.status).toBe(400);
    expect(await res.json<OAuthError>()).toMatchObject({ error: "invalid_request" });
  });

  it("applies the policy before asking anyone: conditions and permissions still hold", async () => {
    const res = await startApproval("billing-agent", { scope: "billing.invoices.refund" });
    expect(await res.json<OAuthError>()).toMatchObject({ error: "access_denied", error_description: expect.stringMatching(/intent/) });
    const other = await startApproval("support-bot", REFUND);
    expect(await other.json<OAuthError>()).toMatchObject({ error: "invalid_scope" });
  });

  it("accepts and ignores the openid scope CIBA asks clients to send", async () => {
    const res = await startApproval("billing-agent", { ...REFUND, scope: "openid billing.invoices.refund", intent: "openid scope test" });
    expect(res.status).toBe(200);
  });

  it("refuses a poll by another agent or with a made-up auth_req_id", async () => {
    const { auth_req_id } = await start({ ...REFUND, intent: "refund invoice INV-48" });
    const stranger = await pollApproval("support-bot", auth_req_id);
    expect(await stranger.json<OAuthError>()).toMatchObject({ error: "invalid_grant" });
    const made = await pollApproval("billing-agent", `${approvalIdOf(auth_req_id)}.${"A".repeat(43)}`);
    expect(await made.json<OAuthError>()).toMatchObject({ error: "invalid_grant" });
    const garbage = await pollApproval("billing-agent", "not-an-id");
    expect(await garbage.json<OAuthError>()).toMatchObject({ error: "invalid_grant" });
  });

  it("requires client authentication to poll", async () => {
    const { auth_req_id } = await start({ ...REFUND, intent: "refund invoice INV-49" });
    const res = await brokerPostForm("/token", { grant_type: CIBA_GRANT, auth_req_id });
    expect(res.status).toBe(401);
  });

  it("announces CIBA poll mode in the server metadata", async () => {
    const res = await brokerGet("/.well-known/oauth-authorization-server");
    expect(await res.json()).toMatchObject({
      backchannel_authentication_endpoint: `${ISSUER}/bc-authorize`,
      backchannel_token_delivery_modes_supported: ["poll"],
      grant_types_supported: expect.arrayContaining([CIBA_GRANT]),
    });
  });
});
