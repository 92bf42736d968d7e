import type { Context } from "hono";
import type { AuditEventType } from "../../schemas/audit.ts";
import type { AppEnv } from "../app-env.ts";
import type { GrantContext } from "../grants/grant-context.ts";
import { configOf, nowOf } from "../http/request-context.ts";
import { requestMeta } from "../middleware/request-log.ts";
import { policyFor } from "../policy/active-policy.ts";
import { activeKeys } from "../tokens/signing-keys.ts";

/** The grant context of one OAuth request: the request's one clock, keys loaded only when a token is signed. */
export function grantContext(c: Context<AppEnv>, event: AuditEventType): GrantContext {
  const config = configOf(c);
  return {
    env: c.env,
    policy: policyFor(config.devOutbox),
    issuer: config.issuer,
    assertionAudiences: [config.issuer, config.tokenEndpoint],
    keys: () => activeKeys(c.env, config),
    now: nowOf(c),
    audit: { event, meta: requestMeta(c) },
    batchLedgerCalls: config.ledgerBatching,
    waitUntil: (work) => {
      // A bare app.request in unit tests has no execution context: the work then simply runs.
      try {
        c.executionCtx.waitUntil(work);
      } catch {}
    },
  };
}

/** The scheme of an Authorization header, echoed in a challenge only if it is a well-formed HTTP token. */
export function authScheme(header: string): string {
  const scheme = header.trim().split(/\s+/)[0] ?? "";
  return /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}$/.test(scheme) ? scheme : "Basic";
}
