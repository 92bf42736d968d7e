/**
 * POST /keys/report as a secret scanner uses it: whoever holds an agent's leaked private key signs a report with
 * it, and the broker quarantines the agent at once (the contract, "Leaked keys"; SECURITY.md).
 */
import { afterEach, describe, expect, it } from "vitest";
import { KEY_REPORT_TYP } from "../../schemas/key-report.ts";
import { type AgentId, assertionClaims, ISSUER, signWithAgentKey } from "../support/assertions.ts";
import { waitForRecords } from "../support/audit.ts";
import { approvalIdOf, approvalState, decideByMail, pollApproval, sentMails, startApproval } from "../support/ciba.ts";
import type { OAuthError } from "../support/oauth.ts";
import { ADMIN_BEARER, accessTokenFor, brokerGet, brokerPostForm, exchange, SERVICE_BEARER } from "../support/requests.ts";

const REPORT_URL = `${ISSUER}/keys/report`;
const RECEIVED = '{"status":"received"}';

/** A report as the contract defines it, signed with the agent's registered key: what someone holding the leaked key sends. */
function genuineReport(agent: AgentId, overrides: Record<string, unknown> = {}): Promise<string> {
  return signWithAgentKey(agent, assertionClaims(agent, { iss: undefined, aud: REPORT_URL, ...overrides }), { typ: KEY_REPORT_TYP });
}

/** Sends a report under a request id of the test's choosing (cf-ray), to find its mail and audit record. */
async function sendReport(report: string): Promise<{ res: Response; requestId: string }> {
  const requestId = `${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}-KEY`;
  return { res: await brokerPostForm("/keys/report", { report }, { "cf-ray": requestId }), requestId };
}

async function introspect(token: string): Promise<Record<string, unknown>> {
  return (await brokerPostForm("/introspect", { token }, SERVICE_BEARER)).json();
}

const quarantined = new Set<AgentId>();
afterEach(async () => {
  // Storage is shared by a file's tests: give every quarantined agent back (its tokens from before stay dead).
  for (const agent of quarantined) expect((await brokerPostForm(`/admin/agents/${agent}/enable`, null, ADMIN_BEARER)).status).toBe(200);
  quarantined.clear();
});

describe("a genuine leaked-key report", () => {
  it("quarantines the agent at once: no new tokens, earlier tokens inactive, pending and approved requests cancelled", async () => {
    const earlier = await accessTokenFor("billing-agent");
    const open = async (intent: string) =>
      (await (await startApproval("billing-agent", { scope: "billing.invoices.refund", intent })).json<{ auth_req_id: string }>())
        .auth_req_id;
    const pending = await open("leaked key test: still pending");
    const approved = await open("leaked key test: approved, not collected");
    for (const approver of ["dana@example.com", "erin@example.com"]) await decideByMail(approvalIdOf(approved), approver);
    expect(await approvalState(approvalIdOf(approved))).toMatchObject({ status: "approved" });

    const { res } = await sendReport(await genuineReport("billing-agent"));
    quarantined.add("billing-agent");
    expect(res.status).toBe(202);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.text()).toBe(RECEIVED);

    const refused = await exchange("billing-agent", { scope: "crm.customers.read" });
    expect(refused.status).toBe(403);
    expect(await refused.json<OAuthError>()).toEqual({ error: "access_denied", error_description: "agent is disabled" });
    expect(await introspect(earlier)).toEqual({ active: false });
    for (const authReqId of [pending, approved]) {
      const poll = await pollApproval("billing-agent", authReqId);
      expect(await poll.json<OAuthError>()).toMatchObject({ error: "access_denied", error_description: "the request was cancelled" });
      expect(await approvalState(approvalIdOf(authReqId))).toMatchObject({ status: "cancelled" });
    }
  });

  it("mails the agent's owner once: what happened, which key, and the commands to recover", async () => {
    const { res, requestId } = await sendReport(await genuineReport("billing-agent"));
    quarantined.add("billing-agent");
    expect(res.status).toBe(202);

    const mails = await sentMails(`key-report:${requestId}`);
    expect(mails).toHaveLength(1);
    const [mail] = mails;
    expect(mail).toMatchObject({
      to: "bob@example.com",
      subject: "Writ quarantined agent billing-agent: its private key was reported leaked",
    });
    expect(mail?.text).toContain('key id "billing-agent-1"');
    expect(mail?.text).toContain("npm run keygen -- --agent billing-agent --out");
    expect(mail?.text).toContain(`${ISSUER}/admin/agents/billing-agent/enable`);
    expect(mail?.text).toContain(`Report ${requestId}`);
  });

  it("writes one audit record in the agent's own chain", async () => {
    const { requestId } = await sendReport(await genuineReport("billing-agent"));
    quarantined.add("billing-agent");
    const records = await waitForRecords(1, (r) => r.request_id === requestId, { agent: "billing-agent" });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      type: "key_report",
      agent: "billing-agent",
      decision: "quarantined",
      detail: "kid billing-agent-1",
      status: 202,
      shard: expect.stringMatching(/^billing-agent\//),
    });
  });

  it("is idempotent: a replayed report quarantines, mails and records nothing new", async () => {
    const report = await genuineReport("billing-agent");
    const first = await sendReport(report);
    expect(first.res.status).toBe(202);
    await waitForRecords(1, (r) => r.request_id === first.requestId, { agent: "billing-agent" });
    // The admin switches the agent back on (say, before rotating the key); the captured report is sent again.
    expect((await brokerPostForm("/admin/agents/billing-agent/enable", null, ADMIN_BEARER)).status).toBe(200);

    const replay = await sendReport(report);
    expect(replay.res.status).toBe(202);
    expect(await replay.res.text()).toBe(RECEIVED);
    expect((await exchange("billing-agent", { scope: "crm.customers.read" })).status).toBe(200);
    expect(await sentMails(`key-report:${replay.requestId}`)).toEqual([]);
    // A later record in the same chain is written after the replay's would have been.
    const marker = await sendReport(await genuineReport("billing-agent"));
    quarantined.add("billing-agent");
    const records = await waitForRecords(1, (r) => r.request_id === marker.requestId, { agent: "billing-agent", type: "key_report" });
    expect(records.filter((r) => r.request_id === replay.requestId)).toEqual([]);
  });

  it("accepts a report signed with an Ed25519 key under either alg name, EdDSA or Ed25519", async () => {
    for (const alg of ["EdDSA", "Ed25519"]) {
      const claims = assertionClaims("billing-agent", { iss: undefined, aud: REPORT_URL });
      await sendReport(await signWithAgentKey("billing-agent", claims, { typ: KEY_REPORT_TYP, alg }));
      quarantined.add("billing-agent");
      expect((await exchange("billing-agent", { scope: "crm.customers.read" })).status).toBe(403);
      expect((await brokerPostForm("/admin/agents/billing-agent/enable", null, ADMIN_BEARER)).status).toBe(200);
    }
  });
});

describe("the report endpoint's HTTP surface", () => {
  it("takes only a form body with one report parameter, refused as invalid_request before any key is looked at", async () => {
    const cases: [Response, string][] = [
      [await brokerPostForm("/keys/report", {}), 'parameter "report" is required'],
      [await brokerPostForm("/keys/report", "report=a&report=b"), 'parameter "report" must not be repeated'],
      [
        await brokerPostForm("/keys/report", null, { "content-type": "application/json" }),
        "Content-Type must be application/x-www-form-urlencoded",
      ],
    ];
    for (const [res, description] of cases) {
      expect(res.status).toBe(400);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.json()).toEqual({ error: "invalid_request", error_description: description });
    }
  });

  it("answers another method with 405 and Allow: POST (RFC 9110 §15.5.6)", async () => {
    const res = await brokerGet("/keys/report");
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });
});
