import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { auditAll, expectNoSecrets, expectWellFormed, probe } from "../support/audit.ts";
import { countBy, itHoldsNoSecrets, recordOf, Secrets } from "../support/audit-completeness.ts";
import { sentMails } from "../support/ciba.ts";
import { formOf, textOf } from "../support/html.ts";
import { CIBA_GRANT } from "../support/oauth.ts";

/**
 * Issue #5: N requests of every kind produce exactly N matching audit records, nothing lost and nothing extra,
 * with the fields an auditor needs and never a secret. Each test sends its requests through its own probe
 * (own user agent, IP and Ray IDs), so its records can be counted exactly although Durable Objects persist
 * across the tests of this file.
 */

const secrets = new Secrets();

describe("audit completeness: human approval (CIBA)", () => {
  it("records the request, one email per approver, every poll, page view and decision, and the issued token", async () => {
    const p = probe("ciba");
    const intent = `refund invoice INV-${crypto.randomUUID().slice(0, 8)} (duplicate charge)`;
    const started = await p.post("/bc-authorize", {
      ...(await secrets.clientAuth("billing-agent")),
      scope: "billing.invoices.refund",
      intent,
    });
    expect(started.status).toBe(200);
    const { auth_req_id } = await started.json<{ auth_req_id: string }>();
    const [approvalId = "", authReqSecret = ""] = auth_req_id.split(".");
    secrets.keep(auth_req_id);
    secrets.keep(authReqSecret);
    const mails = await sentMails(approvalId);
    expect(mails.map((m) => m.to).sort()).toEqual(["dana@example.com", "erin@example.com", "frank@example.com"]);
    for (const mail of mails) secrets.keep(new URL(mail.link).searchParams.get("t") ?? "");
    const linkOf = (approver: string): string => {
      const url = new URL(mails.find((m) => m.to === approver)?.link ?? "");
      return `${url.pathname}${url.search}`;
    };
    const poll = async () => p.post("/token", { grant_type: CIBA_GRANT, auth_req_id, ...(await secrets.clientAuth("billing-agent")) });

    // Requests 1, 2: polls before anyone decided (the second one too fast). Request 3: frank only looks.
    expect(await (await poll()).json()).toMatchObject({ error: "authorization_pending" });
    expect(await (await poll()).json()).toMatchObject({ error: "slow_down" });
    expect((await p.get(linkOf("frank@example.com"))).status).toBe(200);
    // Requests 4-7: dana and erin open their links and approve (link_only use case: the link is the proof).
    for (const approver of ["dana@example.com", "erin@example.com"]) {
      const view = await p.get(linkOf(approver));
      expect(view.status).toBe(200);
      const form = await formOf(await view.text(), "approve-form");
      secrets.keep(form.nonce ?? "");
      expect((await p.post(`/approvals/${approvalId}`, form)).status).toBe(200);
    }
    // Request 8: frank looks again, too late; a refused view is on record too.
    expect((await p.get(linkOf("frank@example.com"))).status).toBe(410);
    // The poll interval has passed (as test/worker/ciba.test.ts does: no sleeping).
    await runInDurableObject(env.APPROVAL_REQUEST.getByName(approvalId), (_instance, state) => {
      state.storage.sql.exec("UPDATE request SET last_poll_at = NULL");
    });
    // Request 9: the approved token.
    const { jti } = await secrets.accessToken(await poll());

    // 1 request + 3 emails + 3 polls + 4 views + 2 decisions.
    const records = await p.records(13);
    expect(records).toHaveLength(13);
    expect(countBy(records, (r) => r.type)).toEqual({
      ciba_request: 1,
      approval_email: 3,
      ciba_poll: 3,
      approval_view: 4,
      approval_decision: 2,
    });
    const request = { agent: "billing-agent", use_case: "billing.invoices.refund", approval_id: approvalId };
    const startedRecord = recordOf(records, p, 0, "ciba_request");
    expect(startedRecord).toMatchObject({
      ...request,
      audience: "https://billing.example.com",
      decision: "approval_requested",
      intent,
      status: 200,
      ip: p.ip,
      user_agent: p.userAgent,
    });
    const emails = records.filter((r) => r.type === "approval_email");
    expect(emails.map((r) => r.approver).sort()).toEqual(["dana@example.com", "erin@example.com", "frank@example.com"]);
    for (const email of emails) expect(email).toMatchObject({ ...request, decision: "sent", request_id: p.requestIds[0] });

    // A refused poll names the agent and the approval (its use case is on the approval's other records).
    const poller = { agent: "billing-agent", approval_id: approvalId, type: "ciba_poll", decision: "denied" };
    expect(recordOf(records, p, 1)).toMatchObject({ ...poller, reason: "authorization_pending" });
    expect(recordOf(records, p, 2)).toMatchObject({ ...poller, reason: "slow_down" });
    expect(recordOf(records, p, 9)).toMatchObject({
      ...request,
      type: "ciba_poll",
      audience: "https://billing.example.com",
      decision: "issued",
      jti,
      status: 200,
    });
    expect(records.filter((r) => r.jti !== undefined)).toHaveLength(1);

    const page = { approval_id: approvalId, status: 200, ip: p.ip, user_agent: p.userAgent };
    expect(recordOf(records, p, 3)).toMatchObject({ ...page, type: "approval_view", approver: "frank@example.com" });
    expect(recordOf(records, p, 4)).toMatchObject({ ...page, type: "approval_view", approver: "dana@example.com" });
    expect(recordOf(records, p, 5)).toMatchObject({
      ...page,
      type: "approval_decision",
      approver: "dana@example.com",
      decision: "approve",
    });
    expect(recordOf(records, p, 6)).toMatchObject({ ...page, type: "approval_view", approver: "erin@example.com" });
    expect(recordOf(records, p, 7)).toMatchObject({
      ...page,
      type: "approval_decision",
      approver: "erin@example.com",
      decision: "approve",
    });
    // A genuine link refused (the request is decided) is filed with the agent's other records.
    expect(recordOf(records, p, 8)).toMatchObject({
      type: "approval_view",
      agent: "billing-agent",
      approval_id: approvalId,
      status: 410,
      decision: "error",
      reason: "decided",
    });

    // Never the link token, the nonce, the auth_req_id secret, an assertion or the access token.
    expectWellFormed(records);
    expectNoSecrets(records, secrets.all);
  });

  // GAP: the approval page knows which agent's request it shows, but its events carry no agent, so they land
  // in the `_broker` shard and `GET /admin/audit?agent=billing-agent` does not show who approved the agent's access.
  it("files approval page views and decisions under the requesting agent", async () => {
    const p = probe("ciba-agent");
    const started = await p.post("/bc-authorize", {
      ...(await secrets.clientAuth("billing-agent")),
      scope: "billing.invoices.refund",
      intent: `refund invoice INV-${crypto.randomUUID().slice(0, 8)}`,
    });
    const { auth_req_id } = await started.json<{ auth_req_id: string }>();
    const approvalId = auth_req_id.split(".")[0] ?? "";
    secrets.keep(auth_req_id);
    const link = new URL((await sentMails(approvalId))[0]?.link ?? "");
    secrets.keep(link.searchParams.get("t") ?? "");
    expect((await p.get(`${link.pathname}${link.search}`)).status).toBe(200);
    const records = await p.records(5);
    expect(records.find((r) => r.type === "approval_view")).toMatchObject({ agent: "billing-agent", use_case: "billing.invoices.refund" });
  });
});

describe("audit completeness: a refused approval form", () => {
  // Issue 11 item 8: a re-POST of a used form was recorded as decision `approve` (status 410) in the `_broker`
  // shard, so counting approvals over-counted and the agent's own trail missed it.
  it("records a re-POST of a used form as an error with its reason in the agent's chain, never as an approve", async () => {
    const p = probe("ciba-repost");
    const started = await p.post("/bc-authorize", {
      ...(await secrets.clientAuth("billing-agent")),
      scope: "billing.invoices.refund",
      intent: `refund invoice INV-${crypto.randomUUID().slice(0, 8)} (re-POST)`,
    });
    const { auth_req_id } = await started.json<{ auth_req_id: string }>();
    const approvalId = auth_req_id.split(".")[0] ?? "";
    secrets.keep(auth_req_id);
    const link = new URL((await sentMails(approvalId)).find((m) => m.to === "dana@example.com")?.link ?? "");
    secrets.keep(link.searchParams.get("t") ?? "");
    const form = await formOf(await (await p.get(`${link.pathname}${link.search}`)).text(), "approve-form");
    secrets.keep(form.nonce ?? "");
    expect((await p.post(`/approvals/${approvalId}`, form)).status).toBe(200);
    const again = await p.post(`/approvals/${approvalId}`, form);
    expect(again.status).toBe(410);
    expect(await textOf(await again.text(), "h1")).toBe("Link already used");

    // 1 request + 3 emails + 1 view + the decision + the refused re-POST.
    const records = await p.records(7);
    expect(records).toHaveLength(7);
    const refused = recordOf(records, p, 3);
    expect(refused).toMatchObject({
      type: "approval_decision",
      agent: "billing-agent",
      approval_id: approvalId,
      decision: "error",
      reason: "link_used",
      status: 410,
    });
    expect(Object.values(refused)).not.toContain("approve");
    // Counting approvals counts the one that happened.
    const decisions = records.filter((r) => r.type === "approval_decision");
    expect(decisions.map((r) => r.decision).sort()).toEqual(["approve", "error"]);
    expect(recordOf(records, p, 2)).toMatchObject({ decision: "approve", status: 200, approver: "dana@example.com" });
    // In the agent's own chain, where an admin filtering on the agent finds it.
    const agentTrail = await auditAll({ agent: "billing-agent" });
    expect(agentTrail.filter((r) => r.request_id === p.requestIds[3])).toEqual([refused]);
  });
});

describe("audit completeness: secrets", () => {
  itHoldsNoSecrets(secrets, { records: 15, secrets: 10 });
});
