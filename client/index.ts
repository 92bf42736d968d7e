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
  const form = new URLSearchParams({
    grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token: await signAgentAssertion({ ...options, audience: options.issuer }),
    subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
  });
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
  const response = await (options.fetch ?? fetch)(`${options.issuer}/token`, { method: "POST", body: form });
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new WritTokenError(response.status, String(body.error), body.error_description as string | undefined);
  return body as WritTokenResponse;
}
