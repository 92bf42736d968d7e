import { exports } from "cloudflare:workers";
import { decodeJwt, type JWK } from "jose";
import { signAgentAssertion } from "../../client/index.ts";
import demoKeys from "../../policy/demo-agent-keys.json";
import { GRANT_TYPE, TOKEN_TYPE } from "../../schemas/token-request.ts";

export const ISSUER = "http://127.0.0.1:8787";
export type DemoAgent = keyof typeof demoKeys;

export function demoKey(agent: DemoAgent): JWK {
  return demoKeys[agent];
}

/** A fresh, valid assertion for a demo agent; `overrides` lets a test change the lifetime or clock. */
export function assertionFor(
  agent: DemoAgent,
  overrides: { audience?: string; lifetimeSeconds?: number; now?: Date } = {},
): Promise<string> {
  return signAgentAssertion({ agentId: agent, privateJwk: demoKey(agent), audience: ISSUER, ...overrides });
}

export function postForm(path: string, params: Record<string, string> | string): Promise<Response> {
  return exports.default.fetch(`${ISSUER}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: typeof params === "string" ? params : new URLSearchParams(params),
  });
}

/** Token exchange with a fresh subject assertion: the simplest way for an agent to ask. */
export async function exchange(agent: DemoAgent, params: Record<string, string>): Promise<Response> {
  return postForm("/token", {
    grant_type: GRANT_TYPE.tokenExchange,
    subject_token: await assertionFor(agent),
    subject_token_type: TOKEN_TYPE.jwt,
    ...params,
  });
}

export async function clientCredentials(agent: DemoAgent, params: Record<string, string>): Promise<Response> {
  return postForm("/token", {
    grant_type: GRANT_TYPE.clientCredentials,
    client_id: agent,
    client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    client_assertion: await assertionFor(agent),
    ...params,
  });
}

export type OAuthError = { error: string; error_description: string };

export async function claimsOf(response: Response): Promise<ReturnType<typeof decodeJwt>> {
  const body = await response.json<{ access_token: string }>();
  return decodeJwt(body.access_token);
}
