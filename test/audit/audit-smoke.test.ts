import { exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { exchange, ISSUER } from "../support/broker.ts";

describe("audit smoke", () => {
  it("records a token request", async () => {
    const res = await exchange("billing-agent", { scope: "crm.customers.read", intent: "audit smoke" });
    expect(res.status).toBe(200);
    await vi.waitFor(async () => {
      const q = await exports.default.fetch(`${ISSUER}/admin/audit?agent=billing-agent`, {
        headers: { authorization: "Bearer dev-admin-token" },
      });
      const body = await q.json<{ records: { type: string; intent?: string }[] }>();
      expect(body.records.some((r) => r.type === "token_request" && r.intent === "audit smoke")).toBe(true);
    });
  });
});
