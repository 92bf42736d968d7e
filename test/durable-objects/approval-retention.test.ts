import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { APPROVAL_RETENTION_MS } from "../../durable-objects/approval-request.ts";
import { hashSecret } from "../../lib/crypto.ts";
import { decideAs, FROZEN_GRANT, type OpenedApproval, openTestApproval, stored } from "../support/approval-fixture.ts";

const agent = FROZEN_GRANT.agentId;
const TTL_MS = 60_000;

/** The object's own tables (workerd's internal `_cf_` tables aside) and its alarm. */
function storage(stub: DurableObjectStub): Promise<{ tables: string[]; alarm: number | null }> {
  return runInDurableObject(stub, async (_instance, state) => ({
    tables: state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name")
      .toArray()
      .map((r) => r.name),
    alarm: await state.storage.getAlarm(),
  }));
}

async function expectForgotten(opened: OpenedApproval): Promise<void> {
  expect(await storage(opened.stub)).toEqual({ tables: [], alarm: null });
  expect(await opened.stub.poll(opened.authReqSecretHash, agent, Date.now())).toEqual({ status: "unknown" });
  expect(await opened.stub.view(await hashSecret(opened.links["a@example.com"] ?? ""), Date.now())).toEqual({
    ok: false,
    problem: "unknown_link",
  });
  expect(await opened.stub.cancel(Date.now())).toBeUndefined();
}

describe("ApprovalRequest retention (issue 11: intent and context are not kept forever)", () => {
  it("deletes everything it stored once the request is final and its retention is over", async () => {
    const opened = await openTestApproval({ request_ttl_seconds: TTL_MS / 1000 }, Date.now() - APPROVAL_RETENTION_MS - TTL_MS - 1000);
    expect(await runDurableObjectAlarm(opened.stub)).toBe(true);
    await expectForgotten(opened);
    // Asking again, even of a fresh instance, creates nothing.
    await evictDurableObject(opened.stub);
    await expectForgotten(opened);
  });

  it("keeps an expired request for the retention, with its one alarm at the retention's end", async () => {
    const opened = await openTestApproval({ request_ttl_seconds: TTL_MS / 1000 }, Date.now() - TTL_MS - 1000);
    expect(await runDurableObjectAlarm(opened.stub)).toBe(true);
    expect(await stored(opened)).toMatchObject({ status: "expired" });
    expect((await storage(opened.stub)).alarm).toBe(opened.now + TTL_MS + APPROVAL_RETENTION_MS);
  });

  it("counts the retention of a denied request from the decision, and of an approved one from its collection", async () => {
    const denied = await openTestApproval({ quorum: 1 });
    await decideAs(denied, "a@example.com", "deny", denied.now + 1000);
    expect(await runDurableObjectAlarm(denied.stub)).toBe(true);
    expect((await storage(denied.stub)).alarm).toBe(denied.now + 1000 + APPROVAL_RETENTION_MS);

    const collected = await openTestApproval({ quorum: 1 });
    await decideAs(collected, "a@example.com", "approve", collected.now + 1000);
    expect((await collected.stub.poll(collected.authReqSecretHash, agent, collected.now + 2000)).status).toBe("approved");
    expect(await runDurableObjectAlarm(collected.stub)).toBe(true);
    expect((await storage(collected.stub)).alarm).toBe(collected.now + 2000 + APPROVAL_RETENTION_MS);
  });

  it("wakes at a lease's end when the request's deadline passes during the lease", async () => {
    const opened = await openTestApproval(
      { quorum: 1, request_ttl_seconds: TTL_MS / 1000, lease_seconds: 600 },
      Date.now() - TTL_MS - 1000,
    );
    await decideAs(opened, "a@example.com", "approve", opened.now + 1000);
    expect(await runDurableObjectAlarm(opened.stub)).toBe(true);
    expect(await stored(opened)).toMatchObject({ status: "approved" });
    expect((await storage(opened.stub)).alarm).toBe(opened.now + 1000 + 600_000);
  });

  it("stores nothing for an id nobody opened", async () => {
    const stub = env.APPROVAL_REQUEST.getByName(crypto.randomUUID());
    expect(await stub.poll(await hashSecret("guess"), agent, Date.now())).toEqual({ status: "unknown" });
    await stub.release();
    expect(await storage(stub)).toEqual({ tables: [], alarm: null });
  });
});
