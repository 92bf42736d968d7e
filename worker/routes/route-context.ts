import type { Context } from "hono";
import type { Reason } from "../../core/refusals.ts";
import type { AppEnv } from "../app-env.ts";
import { requestAuditEvent } from "../audit/request-event.ts";
import { readConfig } from "../config.ts";
import type { GrantContext } from "../grants/grant-context.ts";
import { activePolicy } from "../policy/active-policy.ts";
import { activeKeys } from "../tokens/signing-keys.ts";

/** The grant context of one OAuth request: one `now` for every check, keys loaded only when a token is signed. */
export function grantContext(c: Context<AppEnv>): GrantContext {
  const config = readConfig(c.env);
  return {
    env: c.env,
    policy: activePolicy,
    issuer: config.issuer,
    assertionAudiences: [config.issuer, config.tokenEndpoint],
    keys: () => activeKeys(c.env, config),
    now: new Date(),
    outcome: c.get("outcome"),
    audit: (extra) => c.get("auditExtras").push(extra),
    issuanceAudit: {
      eventFor: (tokenJti) => requestAuditEvent(c, { ...c.get("outcome"), ...issuedFields(tokenJti) }, 200),
      delivered: () => c.set("auditDelivered", true),
    },
  };
}

/** Log fields of an issued token: the token route's log line and the event the ledger stores with the token agree. */
export function issuedFields(tokenJti: string): Record<string, string> {
  return { decision: "issued", token_jti: tokenJti };
}

/** Log fields of a refusal: the reason code and, for identity failures, which check failed (never a token). */
export function refusalFields(reason: Reason): Record<string, string> {
  const fields: Record<string, string> = { decision: "denied", reason: reason.code };
  if (reason.code === "budget_exhausted") fields.detail = reason.budget.slice(0, 128);
  if (reason.code === "client_assertion_invalid" || reason.code === "subject_token_invalid") {
    fields.failure = reason.failure;
    // The detail may echo attacker-chosen text (an unknown kid or iss): bounded so it cannot bloat the log.
    if (reason.detail !== undefined) fields.detail = reason.detail.slice(0, 128);
  }
  return fields;
}

/** The scheme of an Authorization header, echoed in a challenge only if it is a well-formed HTTP token. */
export function authScheme(header: string): string {
  const scheme = header.trim().split(/\s+/)[0] ?? "";
  return /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}$/.test(scheme) ? scheme : "Basic";
}
