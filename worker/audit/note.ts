import type { Context, MiddlewareHandler } from "hono";
import type { Outcome } from "../../core/audit/outcome.ts";
import type { AuditEventType } from "../../schemas/audit.ts";
import type { AppEnv } from "../app-env.ts";

/**
 * Adds what the route now knows to the request's typed outcome, from which the request log writes the one log
 * line and the audit event. Routes write it; grants return their facts and the route notes them.
 */
export function note(c: Context<AppEnv>, facts: Outcome): void {
  const outcome = c.get("outcome") as Outcome | undefined;
  // A route group mounted without the request log (tests drive sub-apps bare) has no record to add to.
  if (outcome) Object.assign(outcome, facts);
}

/** Declares which audit event an endpoint's requests are, where the routes are registered (worker/app.ts). */
export function auditAs(event: AuditEventType): MiddlewareHandler<AppEnv> {
  return async function auditAsHandler(c, next) {
    note(c, { event });
    await next();
  };
}
