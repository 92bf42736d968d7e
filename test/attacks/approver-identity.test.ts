/**
 * One person, one vote (issue 11). Access and the passkey store treat `Dana@x` and `dana@x` as the same person, so
 * the quorum and the owner bar must too: otherwise a person holding links for two spellings of their address
 * counts twice, and an owner listed under another spelling approves their own agent. A compiled policy is
 * normalised (test/core/policy/compile-policy.test.ts); these requests were stored with the policy's old spellings.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { hashSecret, randomSecret } from "../../lib/crypto.ts";
import type { ApprovalSettings } from "../../schemas/policy.ts";
import { type OpenedApproval, openApproval, pagePath, stored } from "../support/approval-fixture.ts";
import { approverApp, call, postForm } from "../support/approver-app.ts";
import { formOf, textOf } from "../support/html.ts";

const app = approverApp();

/** The approver's browser: open the emailed link, press Approve. */
async function approveAs(opened: OpenedApproval, approver: string): Promise<{ status: number; title: string | undefined }> {
  const page = await (await call(app, pagePath(opened, approver))).text();
  const response = await postForm(app, `/approvals/${opened.approvalId}`, await formOf(page, "approve-form"));
  return { status: response.status, title: await textOf(await response.text(), "h1") };
}

/** A request as stored before addresses were normalised: the policy listed Dana as `Dana@Example.com` too, and each spelling got a link. */
async function openedWithDanaTwice(): Promise<OpenedApproval> {
  const opened = await openApproval({ settings: { approvers: ["dana@example.com", "erin@example.com", "fay@example.com"], quorum: 2 } });
  const token = randomSecret();
  const tokenHash = await hashSecret(token);
  await runInDurableObject(opened.stub, (_request, state) => {
    const sql = state.storage.sql;
    const settings: ApprovalSettings = JSON.parse(
      sql.exec<{ settings_json: string }>("SELECT settings_json FROM request").one().settings_json,
    );
    settings.approvers.unshift("Dana@Example.com");
    sql.exec("UPDATE request SET settings_json = ?", JSON.stringify(settings));
    sql.exec("INSERT INTO links (approver, token_hash) VALUES (?, ?)", "Dana@Example.com", tokenHash);
  });
  opened.links["Dana@Example.com"] = token;
  return opened;
}

describe("one person, one vote", () => {
  it("counts Dana@ and then dana@ once toward a quorum of 2: the second approval is refused (410) and the request stays pending", async () => {
    const opened = await openedWithDanaTwice();
    expect(await approveAs(opened, "Dana@Example.com")).toEqual({ status: 200, title: "Approval recorded" });
    expect(await approveAs(opened, "dana@example.com")).toEqual({ status: 410, title: "Already decided" });
    expect(await stored(opened)).toEqual({
      status: "pending",
      decisions: [{ approver: "Dana@Example.com", decision: "approve", auth_method: "link" }],
      usedLinks: 1,
    });
    // A second person still completes the quorum.
    expect(await approveAs(opened, "erin@example.com")).toEqual({ status: 200, title: "Approved" });
    expect((await stored(opened)).status).toBe("approved");
  });

  it("bars the agent's owner listed under another spelling (403 owner_barred) and records nothing", async () => {
    // The fixture's approvers include bob@example.com; the agent's owner was stored as Bob@Example.com.
    const opened = await openApproval({ meta: { agentOwner: "Bob@Example.com" } });
    expect(await approveAs(opened, "bob@example.com")).toEqual({ status: 403, title: "Not allowed: you own this agent" });
    expect(await stored(opened)).toEqual({ status: "pending", decisions: [], usedLinks: 0 });
  });
});
