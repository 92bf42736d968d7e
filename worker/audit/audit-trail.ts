import { shardOf } from "../../core/audit/shards.ts";
import { log } from "../../lib/log.ts";
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
    [...byShard].map(async ([shard, shardEvents]) => {
      const batch = shardEvents.map(auditable);
      for (let attempt = 1; ; attempt++) {
        try {
          await env.AUDIT_LOG.getByName(shard).append(shard, batch);
          return;
        } catch (error) {
          if (attempt < 2) continue;
          log("error", "audit_write_failed", {
            shard,
            events: JSON.stringify(batch),
            message: error instanceof Error ? error.message : String(error),
          });
          return;
        }
      }
    }),
  );
}

/** The event as the schema allows it. A malformed event is a bug in Writ: record what can be recorded and say so loudly. */
export function auditable(event: AuditEvent): AuditEvent {
  const parsed = AuditEventSchema.safeParse(event);
  if (parsed.success) return parsed.data;
  log("error", "audit_event_invalid", { type: event.type, problem: parsed.error.issues[0]?.message });
  return { ts: event.ts, request_id: event.request_id, type: event.type };
}
