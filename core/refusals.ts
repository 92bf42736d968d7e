import type { AdminReason } from "./refusals/admin.ts";
import type { CibaReason } from "./refusals/ciba.ts";
import type { EnrolmentReason } from "./refusals/enrolment.ts";
import type { HttpReason } from "./refusals/http.ts";
import type { ServiceReason } from "./refusals/service.ts";
import type { TokenReason } from "./refusals/token.ts";

export type { AdminAuthFailure, AdminReason } from "./refusals/admin.ts";
export type { ApprovalProblem } from "./refusals/approval-page.ts";
export type { CibaReason } from "./refusals/ciba.ts";
export type { EnrolmentReason } from "./refusals/enrolment.ts";
export type { HttpReason } from "./refusals/http.ts";
export type { ServiceReason } from "./refusals/service.ts";
export type { IdentityFailure, TokenReason } from "./refusals/token.ts";

/**
 * Every way a request can be refused, as data: one closed union per endpoint family, joined here.
 * `worker/http/refuse.ts` is the one place that turns a reason into a response (status, body, headers, no-store);
 * the full reason (with its private detail) goes to the log and the audit trail. Table: docs/errors.md.
 */
export type Reason = TokenReason | CibaReason | ServiceReason | EnrolmentReason | AdminReason | HttpReason;

export type ReasonCode = Reason["code"];

export type Result<T> = { ok: true; value: T } | { ok: false; reason: Reason };
export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(reason: Reason): Result<T> => ({ ok: false, reason });

export function assertNever(value: never): never {
  throw new TypeError(`unhandled case: ${JSON.stringify(value)}`);
}
