import type { AuditExtra, Outcome } from "../core/audit/outcome.ts";
import type { Config } from "./config.ts";
import type { WritEnv } from "./env.ts";

/** Hono's typed environment for every route and middleware of the broker. */
export type AppEnv = {
  Bindings: WritEnv;
  Variables: {
    requestId: string;
    /** The request's one clock: every check of one request sees the same instant. */
    now: Date;
    config: Config;
    /** Set by adminAuth: an Access email, "token" or "session". */
    admin: string;
    /** What the route decided: the source of the request's one log line and its audit event. */
    outcome: Outcome;
    /** Audit events beyond the request's own (e.g. one per approval email sent). */
    auditExtras: AuditExtra[];
  };
};
