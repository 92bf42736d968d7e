/**
 * The SDK's one road to the broker: a form POST (RFC 6749 §3.2) and the one place where an RFC 6749 §5.2 refusal
 * becomes a typed error.
 */
import {
  type BrokerAnswer,
  WritApprovalDenied,
  WritApprovalExpired,
  WritApprovalRequired,
  WritBrokerUnavailable,
  WritDenied,
  type WritError,
  WritInvalidClient,
  WritInvalidRequest,
  WritRateLimited,
  WritUnexpectedResponse,
} from "./errors.ts";
import type { FetchLike } from "./types.ts";

/** A refusal as the broker sent it, before it becomes an error: the approval flow acts on some of them. */
export type Refusal = BrokerAnswer & { status: number; retryAfter: number | undefined };
export type Reply = { ok: true; body: Record<string, unknown>; requestId: string | undefined } | { ok: false; refusal: Refusal };

/** Which step of the protocol asked: the same `error` means different things at each (e.g. `access_denied`). */
export type Step = "token" | "backchannel" | "poll";

/** Who asked, for the messages: the issuer, agent and key an admin would check. */
export type Caller = { issuer: string; agentId: string; keyId: string | undefined; useCase: string | undefined };

/**
 * POSTs a form and reads the JSON answer. Network failures and server errors throw `WritBrokerUnavailable`; an
 * abort rethrows the signal's reason; a 4xx comes back as a `Refusal` for the caller to act on.
 */
export async function postForm(
  fetch: FetchLike,
  url: string,
  form: URLSearchParams,
  options: { signal: AbortSignal | undefined; nowMs: number; headers?: Record<string, string> },
): Promise<Reply> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { ...options.headers, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: form.toString(),
      // A redirect would carry the assertion to another address: a Writ broker never redirects its endpoints.
      redirect: "manual",
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw new WritBrokerUnavailable(`could not reach the Writ broker at ${url}: ${messageOf(error)}`, {}, { cause: error });
  }
  const requestId = response.headers.get("x-request-id") ?? undefined;
  const body = await readJsonObject(response);
  if (response.status >= 500) {
    throw new WritBrokerUnavailable(`the Writ broker at ${url} answered ${response.status}`, {
      status: response.status,
      error: stringField(body, "error"),
      errorDescription: stringField(body, "error_description"),
      requestId,
    });
  }
  if (body === undefined) {
    throw new WritUnexpectedResponse(`the Writ broker at ${url} answered ${response.status} without a JSON object`, {
      status: response.status,
      requestId,
    });
  }
  if (response.ok) return { ok: true, body, requestId };
  return {
    ok: false,
    refusal: {
      status: response.status,
      error: stringField(body, "error"),
      errorDescription: stringField(body, "error_description"),
      requestId,
      retryAfter: retryAfterSeconds(response.headers.get("retry-after"), options.nowMs),
    },
  };
}

/** The one map from an RFC 6749 §5.2 refusal to its error class. Exhaustive over what the contract defines. */
export function refusalError(refusal: Refusal, step: Step, caller: Caller): WritError {
  const { error, errorDescription } = refusal;
  const what = caller.useCase === undefined ? "the request" : `use case "${caller.useCase}"`;
  const said = errorDescription === undefined ? `(${error})` : `${errorDescription} (${error})`;
  switch (error) {
    case "invalid_client":
      return new WritInvalidClient(identityMessage(caller, error), refusal);
    case "invalid_grant":
      // At /token the grant is the agent's own assertion, so this is the same identity failure as invalid_client;
      // at a poll it is the auth_req_id that no longer works (unknown, or its token already collected).
      if (step === "poll") return new WritApprovalExpired(`the approval for ${what} can no longer give a token: ${said}`, refusal);
      return new WritInvalidClient(identityMessage(caller, error), refusal);
    case "access_denied":
      if (step === "poll") return new WritApprovalDenied(`the approval for ${what} ended: ${said}`, refusal);
      return new WritDenied(`Writ denied ${what}: ${said}`, refusal);
    case "invalid_scope":
    case "invalid_target":
    case "invalid_authorization_details":
    case "unauthorized_client":
      return new WritDenied(`Writ denied ${what}: ${said}`, refusal);
    case "rate_limited": {
      const when = refusal.retryAfter === undefined ? "" : `; retry in ${refusal.retryAfter} s`;
      return new WritRateLimited(`Writ rate-limited ${what}: ${said}${when}`, refusal, refusal.retryAfter);
    }
    case "approval_required":
      return new WritApprovalRequired(`${what} needs a human approval; call with approval: "wait" to request one (${error})`, refusal);
    case "expired_token":
      return new WritApprovalExpired(`the approval for ${what} expired before the approvers decided (${error})`, refusal);
    case "invalid_request":
    case "unsupported_grant_type":
    case "unsupported_token_type":
      return new WritInvalidRequest(`the Writ broker refused the request as malformed: ${said}`, refusal);
    case "temporarily_unavailable":
      return new WritBrokerUnavailable(`the Writ broker is temporarily unavailable ${said}`, refusal);
    default:
      // 429 without the contract's error code is still a rate limit (a proxy in front of the broker, say).
      if (refusal.status === 429) return new WritRateLimited(`rate-limited ${what} (HTTP 429)`, refusal, refusal.retryAfter);
      return new WritUnexpectedResponse(`the Writ broker answered ${refusal.status} ${error ?? "without an error code"}`, refusal);
  }
}

/**
 * One line an agent author can act on. The broker says only `invalid_client` (telling an attacker which check
 * failed would help them), so this names the three things honest agents usually get wrong.
 */
function identityMessage(caller: Caller, error: string): string {
  const key = caller.keyId === undefined ? "its key" : `key "${caller.keyId}"`;
  return (
    `the Writ broker did not accept agent "${caller.agentId}"'s identity (${error}). Check: the issuer is spelled exactly as the ` +
    `broker's ("${caller.issuer}"), ${key} is registered to "${caller.agentId}" in the policy, and this machine's clock is right`
  );
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. */
export function retryAfterSeconds(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - nowMs) / 1000));
}

async function readJsonObject(response: Response): Promise<Record<string, unknown> | undefined> {
  let value: unknown;
  try {
    value = JSON.parse(await response.text());
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export function stringField(body: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = body?.[name];
  return typeof value === "string" ? value : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
