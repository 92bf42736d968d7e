import { describe, expect, it } from "vitest";
import { newAuthReqId, parseAuthReqId } from "../../../core/approvals/auth-req-id.ts";
import { requestHash } from "../../../core/approvals/request-hash.ts";
import type { RequestedGrant } from "../../../schemas/approval.ts";
import { FROZEN_GRANT } from "../../support/grants.ts";

// Two facts in context and actions out of order: what the hash must normalise.
const grant: RequestedGrant = { ...FROZEN_GRANT, actions: ["refund", "read"], context: { ticket: "SUP-1", priority: 2 } };

describe("request hash", () => {
  it("is the same for the same request whatever the order of keys and actions", async () => {
    const reordered: RequestedGrant = { ...grant, actions: ["read", "refund"], context: { priority: 2, ticket: "SUP-1" } };
    expect(await requestHash(reordered)).toBe(await requestHash(grant));
  });

  it("changes with anything an approver would care about", async () => {
    const base = await requestHash(grant);
    for (const changed of [
      { ...grant, intent: "refund invoice 43" },
      { ...grant, context: { ...grant.context, ticket: "SUP-2" } },
      { ...grant, limits: { max_refund_cents: 50001 } },
      { ...grant, ttlSeconds: 301 },
      { ...grant, audience: "https://crm.example.com" },
      { ...grant, actions: ["read"] },
    ]) {
      expect(await requestHash(changed)).not.toBe(base);
    }
  });
});

describe("auth_req_id", () => {
  it("round-trips and refuses anything that is not exactly an id and a secret", () => {
    const { approvalId, secret, authReqId } = newAuthReqId();
    expect(parseAuthReqId(authReqId)).toEqual({ approvalId, secret });
    expect(parseAuthReqId(approvalId)).toBeUndefined();
    expect(parseAuthReqId(`${authReqId}.x`)).toBeUndefined();
    expect(parseAuthReqId(`../${authReqId}`)).toBeUndefined();
  });
});
