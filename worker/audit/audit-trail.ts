import { shardOf } from "../../core/audit/shards.ts";
import { type LogFields, log } from "../../lib/log.ts";
import { type AuditEvent, AuditEventSchema } from "../../schemas/audit.ts";
import type { WritEnv } from "../env.ts";

/**
 * Writes events to their shards: one Durable Object call per shard touched (usually one). A failed write is
 * retried once; if it still fails, the complete events go to the error log, which Logpush keeps, so an event is
 * never silently lost.
 */
export async function recordAudit(env: WritEnv, events: AuditEvent[]): Promise<void> {
  const byShard = Map.groupBy(events, (event) => shardOf(event.agent, event.ts));
  await Promise.all(
    [...byShard].map(([shard, shardEvents]) => {
      const batch = shardEvents.map(auditable);
      return tryTwice(() => env.AUDIT_LOG.getByName(shard).append(shard, batch), "audit_write_failed", {
        shard,
        events: JSON.stringify(batch),
      });
    }),
  );
}

/**
 * Runs a write after the response, retrying once. A write that still fails is logged at error level with `fields`
 * (what was to be written) and the error's message, never thrown: the response has already gone.
 */
export async function tryTwice(write: () => Promise<unknown>, event: string, fields: LogFields): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await write();
      return;
    } catch (error) {
      if (attempt < 2) continue;
      log("error", event, { ...fields, message: error instanceof Error ? error.message : String(error) });
      return;
    }
  }
}

/** The event as the schema allows it. A malformed event is a bug in Writ: record what can be recorded and say so loudly. */
export function auditable(event: AuditEvent): AuditEvent {
  const parsed = AuditEventSchema.safeParse(event);
  if (parsed.success) return parsed.data;
  log("error", "audit_event_invalid", { type: event.type, problem: parsed.error.issues[0]?.message });
  return { ts: event.ts, request_id: event.request_id, type: event.type };
}
