import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AuditLog, auditRetentionDays } from "../../durable-objects/audit-log.ts";

describe("AUDIT_RETENTION_DAYS", () => {
  it("defaults to 400 days when unset", () => {
    expect(auditRetentionDays(undefined)).toBe(400);
  });

  it("accepts a positive whole number of days", () => {
    expect(auditRetentionDays("1")).toBe(1);
    expect(auditRetentionDays("3650")).toBe(3650);
  });

  it.each(["", "0", "-5", "30.5", "1e3", " 30", "30 ", "030", "thirty", "99999999999999999999"])(
    "fails loudly on %j instead of keeping evidence for a period nobody chose",
    (value) => {
      expect(() => auditRetentionDays(value)).toThrow(/^Writ misconfigured: AUDIT_RETENTION_DAYS /);
    },
  );

  it("is read when a shard starts, before it can store anything", async () => {
    const stub = env.AUDIT_LOG.getByName(`retention-config-${crypto.randomUUID()}`);
    await runInDurableObject(stub, (_instance, state) => {
      expect(() => new AuditLog(state, { AUDIT_RETENTION_DAYS: "0" })).toThrow(/^Writ misconfigured: AUDIT_RETENTION_DAYS /);
    });
  });
});
