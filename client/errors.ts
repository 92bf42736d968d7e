/**
 * Every way the broker (or the road to it) can refuse an agent. Closed, so an agent can `switch` over it
 * exhaustively; each code has one class, so `instanceof` works too.
 *
 * @example
 * switch (error instanceof WritError ? error.code : undefined) {
 *   case "ERR_WRIT_DENIED": return `not allowed: ${(error as WritDenied).rule}`;
 *   case "ERR_WRIT_RATE_LIMITED": return `try again in ${(error as WritRateLimited).retryAfter ?? 60} s`;
 * }
 */
export type WritErrorCode =
  /** The broker did not accept the agent's identity (`invalid_client`): issuer, key or clock. */
  | "ERR_WRIT_INVALID_CLIENT"
  /** The policy refused the request and named the rule (`access_denied`, `invalid_scope`, `invalid_target`, …). */
  | "ERR_WRIT_DENIED"
  /** A budget is spent, or too many approvals are open (`rate_limited`, 429); `retryAfter` says when to try again. */
  | "ERR_WRIT_RATE_LIMITED"
  /** The use case needs a human approval and the caller asked not to wait for one (`approval: "fail"`). */
  | "ERR_WRIT_APPROVAL_REQUIRED"
  /** An approver denied the request, or the request was cancelled (the agent was switched off). */
  | "ERR_WRIT_APPROVAL_DENIED"
  /** Nobody decided before the approval request expired, or its token can no longer be collected. */
  | "ERR_WRIT_APPROVAL_EXPIRED"
  /** The broker found the request malformed (`invalid_request`, `unsupported_grant_type`, …): a bug or a version skew. */
  | "ERR_WRIT_INVALID_REQUEST"
  /** The broker's metadata (RFC 8414) is missing, malformed or names another issuer. */
  | "ERR_WRIT_DISCOVERY_FAILED"
  /** The broker could not be reached, or answered with a server error. Safe to retry later. */
  | "ERR_WRIT_BROKER_UNAVAILABLE"
  /** The broker answered something this SDK does not understand (an unknown error code, a token response without a token). */
  | "ERR_WRIT_UNEXPECTED_RESPONSE";

/** What the broker said, as far as it said anything: its RFC 6749 §5.2 error and the request id an admin can look up. */
export type BrokerAnswer = {
  /** HTTP status of the refusal. */
  status?: number | undefined;
  /** The RFC 6749 §5.2 `error` (e.g. `access_denied`). */
  error?: string | undefined;
  /** The broker's `error_description`: for policy refusals it names the rule. */
  errorDescription?: string | undefined;
  /** The broker's `X-Request-Id`: give it to the admin, who finds the audit record with it. */
  requestId?: string | undefined;
};

/**
 * The base class of every Writ refusal. `message` is one line for a log or a user; it never holds a token,
 * an assertion or a key.
 *
 * @example
 * try {
 *   await writ.token({ useCase: "crm.customers.read" });
 * } catch (error) {
 *   if (!(error instanceof WritError)) throw error;
 *   console.warn(error.code, error.message, "request id:", error.requestId);
 * }
 */
export abstract class WritError extends Error {
  abstract readonly code: WritErrorCode;
  readonly status: number | undefined;
  readonly error: string | undefined;
  readonly errorDescription: string | undefined;
  readonly requestId: string | undefined;

  constructor(message: string, answer: BrokerAnswer = {}, options?: { cause?: unknown }) {
    super(withRequestId(message, answer.requestId), options);
    this.status = answer.status;
    this.error = answer.error;
    this.errorDescription = answer.errorDescription;
    this.requestId = answer.requestId;
  }
}

/**
 * `invalid_client`: the broker keeps identity failures generic on purpose (an attacker learns nothing), so the
 * message lists what an honest agent usually got wrong.
 *
 * @example
 * if (error instanceof WritInvalidClient) console.error(error.message); // names issuer, key id and clock to check
 */
export class WritInvalidClient extends WritError {
  override readonly name = "WritInvalidClient";
  readonly code = "ERR_WRIT_INVALID_CLIENT";
}

/**
 * A policy refusal. `rule` is the broker's description of the rule that failed, e.g.
 * `condition context.ticket: required context is missing`.
 *
 * @example
 * if (error instanceof WritDenied) return { content: `Writ refused: ${error.rule}`, isError: true };
 */
export class WritDenied extends WritError {
  override readonly name = "WritDenied";
  readonly code = "ERR_WRIT_DENIED";
  readonly rule: string;
  constructor(message: string, answer: BrokerAnswer) {
    super(message, answer);
    this.rule = answer.errorDescription ?? answer.error ?? "denied";
  }
}

/**
 * `rate_limited` (429): a budget is spent (its name is in `errorDescription`) or too many approvals are open.
 *
 * @example
 * if (error instanceof WritRateLimited) await sleep((error.retryAfter ?? 60) * 1000);
 */
export class WritRateLimited extends WritError {
  override readonly name = "WritRateLimited";
  readonly code = "ERR_WRIT_RATE_LIMITED";
  /** Seconds from `Retry-After` (RFC 9110 §10.2.3), when the broker sent one. */
  readonly retryAfter: number | undefined;
  constructor(message: string, answer: BrokerAnswer, retryAfter: number | undefined) {
    super(message, answer);
    this.retryAfter = retryAfter;
  }
}

/**
 * The use case needs a human approval and the call said `approval: "fail"` instead of waiting for one.
 *
 * @example
 * const token = await writ.token({ useCase, approval: "fail" }).catch((e) => (e instanceof WritApprovalRequired ? undefined : Promise.reject(e)));
 */
export class WritApprovalRequired extends WritError {
  override readonly name = "WritApprovalRequired";
  readonly code = "ERR_WRIT_APPROVAL_REQUIRED";
}

/**
 * An approver said no (any deny ends a request), or the request was cancelled by the agent's kill switch.
 *
 * @example
 * if (error instanceof WritApprovalDenied) return "A human declined this action.";
 */
export class WritApprovalDenied extends WritError {
  override readonly name = "WritApprovalDenied";
  readonly code = "ERR_WRIT_APPROVAL_DENIED";
}

/**
 * The approval request ran out (`expired_token`) before enough approvers decided, or its token was already collected.
 *
 * @example
 * if (error instanceof WritApprovalExpired) return "Nobody approved in time; ask again later.";
 */
export class WritApprovalExpired extends WritError {
  override readonly name = "WritApprovalExpired";
  readonly code = "ERR_WRIT_APPROVAL_EXPIRED";
}

/**
 * The broker found the request malformed. With this SDK that means an input the broker rejects (an intent over
 * 500 characters, a context of more than 32 keys, …) or a broker of another version.
 *
 * @example
 * if (error instanceof WritInvalidRequest) console.error("fix the request:", error.errorDescription);
 */
export class WritInvalidRequest extends WritError {
  override readonly name = "WritInvalidRequest";
  readonly code = "ERR_WRIT_INVALID_REQUEST";
}

/**
 * The broker's metadata (RFC 8414) could not be used: missing, malformed, or naming another issuer than the one
 * configured (RFC 8414 §3.3 forbids using it then).
 *
 * @example
 * if (error instanceof WritDiscoveryFailed) console.error(error.message); // e.g. says which issuer the broker has
 */
export class WritDiscoveryFailed extends WritError {
  override readonly name = "WritDiscoveryFailed";
  readonly code = "ERR_WRIT_DISCOVERY_FAILED";
}

/**
 * The broker could not be reached or answered with a server error. Nothing was decided: retrying later is safe.
 *
 * @example
 * if (error instanceof WritBrokerUnavailable) return "The credential broker is down; try again in a minute.";
 */
export class WritBrokerUnavailable extends WritError {
  override readonly name = "WritBrokerUnavailable";
  readonly code = "ERR_WRIT_BROKER_UNAVAILABLE";
}

/**
 * The broker answered something this SDK does not understand. Usually a broker newer than the SDK, or not a
 * Writ broker at all.
 *
 * @example
 * if (error instanceof WritUnexpectedResponse) console.error(error.status, error.error, error.requestId);
 */
export class WritUnexpectedResponse extends WritError {
  override readonly name = "WritUnexpectedResponse";
  readonly code = "ERR_WRIT_UNEXPECTED_RESPONSE";
}

/**
 * The old name of the base class, kept so that code written against the first helper keeps compiling.
 *
 * @deprecated use `WritError` (or one of its subclasses).
 * @example
 * if (error instanceof WritTokenError) console.warn(error.error);
 */
export const WritTokenError = WritError;
/** @deprecated use `WritError`. */
export type WritTokenError = WritError;

function withRequestId(message: string, requestId: string | undefined): string {
  return requestId === undefined ? message : `${message} (request id ${requestId})`;
}
