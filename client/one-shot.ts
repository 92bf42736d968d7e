/**
 * Single protocol steps without discovery, cache or waiting: for scripts and tests that want to see one request
 * and its answer. Agents use `WritClient`.
 */
import { agentSigningKey, DEFAULT_ASSERTION_LIFETIME_SECONDS, signAssertion } from "./assertion.ts";
import { WritUnexpectedResponse } from "./errors.ts";
import { backchannelForm, checkTokenRequest, tokenExchangeForm } from "./protocol.ts";
import type { AgentKey, AgentPrivateJwk, FetchLike, TokenRequest } from "./types.ts";
import { type Caller, postForm, refusalError, type Step } from "./wire.ts";

export type OneShotOptions = TokenRequest & {
  /** The broker's issuer; the endpoints are `${issuer}/token` and `${issuer}/bc-authorize` (no discovery). */
  issuer: string;
  agentId: string;
  key?: AgentKey;
  /** The same, under the first helper's name. */
  privateJwk?: AgentPrivateJwk;
  keyId?: string;
  fetch?: FetchLike;
  signal?: AbortSignal;
};

/** The broker's token response (RFC 6749 §5.1, RFC 8693 §2.2.1) as it arrived. */
export type WritTokenResponse = {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  issued_token_type?: string;
  authorization_details: unknown[];
};

/** The broker's answer to /bc-authorize (OpenID CIBA §7.3) as it arrived. */
export type ApprovalStarted = { auth_req_id: string; expires_in: number; interval: number };

/**
 * One RFC 8693 token exchange at `${issuer}/token`, authenticated with private_key_jwt. Refusals reject with the
 * same typed errors as `WritClient`; an `approval_required` rejects with `WritApprovalRequired`.
 *
 * @example
 * const { access_token } = await requestToken({
 *   issuer: "http://localhost:8787", agentId: "support-bot", key: privateJwk, useCase: "crm.customers.read",
 * });
 */
export async function requestToken(options: OneShotOptions): Promise<WritTokenResponse> {
  const assertion = await oneShotAssertion(options);
  const body = await send(options, "/token", tokenExchangeForm(options.agentId, assertion, options), "token");
  if (typeof body.access_token !== "string")
    throw new WritUnexpectedResponse("the Writ broker's token response has no access_token", { status: 200 });
  return body as WritTokenResponse;
}

/**
 * Starts a human approval (OpenID CIBA, `POST ${issuer}/bc-authorize`) and returns at once; approvers are
 * emailed. `WritClient.token` does this and the polling for you.
 *
 * @example
 * const { auth_req_id, expires_in } = await requestApproval({ issuer, agentId: "billing-agent", key, useCase: "billing.invoices.refund", intent });
 */
export async function requestApproval(options: OneShotOptions & { bindingMessage?: string }): Promise<ApprovalStarted> {
  const assertion = await oneShotAssertion(options);
  const form = backchannelForm(options.agentId, assertion, options, options.bindingMessage);
  return (await send(options, "/bc-authorize", form, "backchannel")) as ApprovalStarted;
}

async function oneShotAssertion(options: OneShotOptions): Promise<string> {
  checkTokenRequest(options);
  const key = options.key ?? options.privateJwk;
  if (key === undefined) throw new TypeError("pass the agent's private key as `key`");
  const signer = await agentSigningKey(key, options.keyId);
  return signAssertion(signer, {
    agentId: options.agentId,
    audience: options.issuer,
    lifetimeSeconds: DEFAULT_ASSERTION_LIFETIME_SECONDS,
    nowMs: Date.now(),
  });
}

async function send(options: OneShotOptions, path: string, form: URLSearchParams, step: Step): Promise<Record<string, unknown>> {
  const reply = await postForm(options.fetch ?? ((url, init) => fetch(url, init)), `${options.issuer}${path}`, form, {
    signal: options.signal,
    nowMs: Date.now(),
  });
  if (!reply.ok) throw refusalError(reply.refusal, step, callerOf(options));
  return reply.body;
}

function callerOf(options: OneShotOptions): Caller {
  const jwk = options.key ?? options.privateJwk;
  const kid = options.keyId ?? (jwk !== undefined && "kid" in jwk && typeof jwk.kid === "string" ? jwk.kid : undefined);
  return { issuer: options.issuer, agentId: options.agentId, keyId: kid, useCase: options.useCase };
}
