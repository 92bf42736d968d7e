/**
 * Writ's agent-side helper: proves an agent's identity with a self-signed assertion (RFC 7523 §2.2) and asks
 * the broker for a token scoped to one use case. Any OAuth client that does private_key_jwt works too.
 *
 * @example
 * const { access_token } = await requestToken({
 *   issuer: "http://127.0.0.1:8787", agentId: "support-bot", privateJwk, useCase: "crm.customers.read",
 *   intent: "look up the customer on ticket SUP-42",
 * });
 */
import { importJWK, type JWK, SignJWT } from "jose";

export type AgentKey = { privateJwk: JWK & { kid?: string; alg?: string } };

export type AssertionOptions = AgentKey & {
  agentId: string;
  /** The broker's issuer URL (or its token endpoint). */
  audience: string;
  lifetimeSeconds?: number;
  now?: Date;
};

/** A fresh single-use assertion: unique `jti`, one-minute life by default (the broker accepts at most five). */
export async function signAgentAssertion(options: AssertionOptions): Promise<string> {
  const { privateJwk, agentId, audience } = options;
  const alg = privateJwk.alg ?? (privateJwk.kty === "OKP" ? "EdDSA" : "ES256");
  const key = await importJWK(privateJwk, alg);
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const header = privateJwk.kid === undefined ? { alg } : { alg, kid: privateJwk.kid };
  return new SignJWT({})
    .setProtectedHeader(header)
    .setIssuer(agentId)
    .setSubject(agentId)
    .setAudience(audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.lifetimeSeconds ?? 60))
    .setJti(crypto.randomUUID())
    .sign(key);
}

export type TokenRequestOptions = AgentKey & {
  issuer: string;
  agentId: string;
  useCase: string;
  actions?: string[];
  locations?: string[];
  audience?: string;
  intent?: string;
  context?: Record<string, string | number | boolean>;
  fetch?: typeof fetch;
};

export type WritTokenResponse = {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  issued_token_type?: string;
  authorization_details: unknown[];
};

export class WritTokenError extends Error {
  override readonly name = "WritTokenError";
  readonly status: number;
  readonly error: string;
  constructor(status: number, error: string, description: string | undefined) {
    super(description ? `${error}: ${description}` : error);
    this.status = status;
    this.error = error;
  }
}

/** RFC 8693 token exchange with the agent's own assertion as subject_token. */
export async function requestToken(options: TokenRequestOptions): Promise<WritTokenResponse> {
  const form = useCaseForm(options);
  form.set("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange");
  form.set("subject_token", await signAgentAssertion({ ...options, audience: options.issuer }));
  form.set("subject_token_type", "urn:ietf:params:oauth:token-type:jwt");
  return postForm<WritTokenResponse>(options, "/token", form);
}

export type ApprovalStarted = { auth_req_id: string; expires_in: number; interval: number };

/**
 * Starts a human approval (OpenID CIBA, POST /bc-authorize) for a use case that needs one. Approvers are
 * emailed; collect the token with `collectApprovedToken`.
 */
export async function requestApproval(options: TokenRequestOptions & { bindingMessage?: string }): Promise<ApprovalStarted> {
  const form = useCaseForm(options);
  for (const [name, value] of Object.entries(await clientAuthentication(options))) form.set(name, value);
  if (options.bindingMessage) form.set("binding_message", options.bindingMessage);
  return postForm<ApprovalStarted>(options, "/bc-authorize", form);
}

/**
 * Polls the token endpoint with the CIBA grant, honouring `interval` and `slow_down` (CIBA §11), until the
 * approvers decide. Rejects with WritTokenError `access_denied` or `expired_token` when they do not approve.
 */
export async function collectApprovedToken(
  options: AgentKey & { issuer: string; agentId: string; fetch?: typeof fetch; signal?: AbortSignal },
  started: ApprovalStarted,
  onPending?: () => void,
): Promise<WritTokenResponse> {
  let intervalSeconds = started.interval;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, intervalSeconds * 1000));
    options.signal?.throwIfAborted();
    const form = new URLSearchParams({ grant_type: "urn:openid:params:grant-type:ciba", auth_req_id: started.auth_req_id });
    for (const [name, value] of Object.entries(await clientAuthentication(options))) form.set(name, value);
    try {
      return await postForm<WritTokenResponse>(options, "/token", form);
    } catch (error) {
      if (!(error instanceof WritTokenError)) throw error;
      if (error.error === "slow_down") intervalSeconds += 5;
      else if (error.error !== "authorization_pending") throw error;
      onPending?.();
    }
  }
}

async function clientAuthentication(options: AgentKey & { issuer: string; agentId: string }): Promise<Record<string, string>> {
  return {
    client_id: options.agentId,
    client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    client_assertion: await signAgentAssertion({ ...options, audience: options.issuer }),
  };
}

function useCaseForm(options: TokenRequestOptions): URLSearchParams {
  const form = new URLSearchParams();
  if (options.actions || options.locations) {
    form.set(
      "authorization_details",
      JSON.stringify([{ type: "agent_use_case", use_case: options.useCase, actions: options.actions, locations: options.locations }]),
    );
  } else {
    form.set("scope", options.useCase);
  }
  if (options.audience) form.set("audience", options.audience);
  if (options.intent) form.set("intent", options.intent);
  if (options.context) form.set("context", JSON.stringify(options.context));
  return form;
}

async function postForm<T>(options: { issuer: string; fetch?: typeof fetch }, path: string, form: URLSearchParams): Promise<T> {
  const response = await (options.fetch ?? fetch)(`${options.issuer}${path}`, { method: "POST", body: form });
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new WritTokenError(response.status, String(body.error), body.error_description as string | undefined);
  return body as T;
}
