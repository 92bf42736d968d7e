import type { LogFields } from "../lib/log.ts";
import type { AuditEvent } from "../schemas/audit.ts";
import type { WritEnv } from "./env.ts";

/** An audit event a route adds on top of its request's own (e.g. one per approval email sent). */
export type AuditExtra = Omit<AuditEvent, "ts" | "request_id" | "ip" | "user_agent">;

/** Hono's typed environment for every route and middleware of the broker. */
export type AppEnv = {
  Bindings: WritEnv;
  Variables: {
    requestId: string;
    /** What the route decided, merged into the request's one log line and its audit event. */
    outcome: LogFields;
    auditExtras: AuditExtra[];
    /** The request's own audit event is already durable (written by the agent's ledger with the token it issued). */
    auditDelivered: boolean;
  };
};
