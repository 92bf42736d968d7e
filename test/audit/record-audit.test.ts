import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { shardOf } from "../../core/audit/shards.ts";
import type { AuditEvent } from "../../schemas/audit.ts";
import { recordAudit } from "../../worker/audit/audit-trail.ts";
import type { WritEnv } from "../../worker/env.ts";
import { withLogs } from "../support/logs.ts";

/**
 * Issue #5: "an event is never silently dropped: if recording fails, the response says so in the logs and a retry
 * path exists". recordAudit against a stand-in AUDIT_LOG namespace whose writes fail on demand.
 */

type Append = (shard: string, events: AuditEvent[]) => Promise<number>;

function envWith(append: Append): WritEnv {
  const namespace = { getByName: (_name: string) => ({ append }) };
  return { ...env, AUDIT_LOG: namespace as unknown as WritEnv["AUDIT_LOG"] };
}

/** The broker's structured log lines (one JSON object each) while `work` runs. */
async function logLines(work: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const { lines } = await withLogs(work);
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

const TS = Date.parse("2026-06-01T12:00:00Z");
const event = (i: number, agent?: string): AuditEvent => ({
  ts: TS,
  request_id: `req-${i}`,
  type: "token_request",
  decision: "issued",
  ...(agent === undefined ? {} : { agent }),
});

describe("recordAudit", () => {
  it("writes one batch per shard, events in order, events without an agent to the broker's shard", async () => {
    const calls: [string, AuditEvent[]][] = [];
    await recordAudit(
      envWith(async (shard, events) => {
        calls.push([shard, events]);
        return events.length;
      }),
      [event(1, "billing-agent"), event(2), event(3, "billing-agent"), event(4, "support-bot")],
    );
    expect(calls.sort(([a], [b]) => a.localeCompare(b))).toEqual([
      ["_broker/2026-06-01", [event(2)]],
      ["billing-agent/2026-06-01", [event(1, "billing-agent"), event(3, "billing-agent")]],
      ["support-bot/2026-06-01", [event(4, "support-bot")]],
    ]);
    expect(shardOf("billing-agent", TS + 12 * 3_600_000)).toBe("billing-agent/2026-06-02");
  });

  it("retries a failed write once, and then logs nothing", async () => {
    const attempts: number[] = [];
    const lines = await logLines(() =>
      recordAudit(
        envWith(async (_shard, events) => {
          attempts.push(events.length);
          if (attempts.length === 1) throw new Error("Durable Object overloaded");
          return events.length;
        }),
        [event(1, "billing-agent"), event(2, "billing-agent")],
      ),
    );
    expect(attempts).toEqual([2, 2]);
    expect(lines).toEqual([]);
  });

  it("puts the complete events of a write that failed twice into the error log", async () => {
    let attempts = 0;
    const batch = [event(1, "billing-agent"), event(2, "billing-agent")];
    const lines = await logLines(() =>
      recordAudit(
        envWith(async () => {
          attempts += 1;
          throw new Error("storage unavailable");
        }),
        batch,
      ),
    );
    expect(attempts).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "error",
      event: "audit_write_failed",
      shard: "billing-agent/2026-06-01",
      message: "storage unavailable",
    });
    expect(JSON.parse(String(lines[0]?.events))).toEqual(batch);
  });

  it("still records a malformed event (a bug in Writ) by its id and type, and says so in the log", async () => {
    const written: AuditEvent[] = [];
    const malformed: AuditEvent = { ...event(1, "billing-agent"), ip: "x".repeat(100) };
    const lines = await logLines(() =>
      recordAudit(
        envWith(async (_shard, events) => {
          written.push(...events);
          return events.length;
        }),
        [malformed],
      ),
    );
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ ts: TS, request_id: "req-1", type: "token_request" });
    expect(lines).toEqual([expect.objectContaining({ level: "error", event: "audit_event_invalid", type: "token_request" })]);
  });
});
