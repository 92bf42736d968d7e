/** Requests to the whole broker through the Worker's own fetch handler, as any HTTP client would send them. */
import { exports } from "cloudflare:workers";
import { createLocalJWKSet } from "jose";
import { expect } from "vitest";
import { DEV_VARS } from "../../scripts/dev-vars.ts";
import type { JwksFetch } from "../../verifier/index.ts";
import { type AgentId, assertionFor, ISSUER } from "./assertions.ts";
import { CUSTOMERS_READ } from "./demo-policy.ts";
import { type Form, formPost } from "./http.ts";
import { clientAuthParams, clientCredentialsParams, tokenExchangeParams } from "./oauth.ts";

export const ADMIN_BEARER = { authorization: `Bearer ${DEV_VARS.ADMIN_TOKEN}` } as const;
/** The CRM's credential at the broker (SERVICE_CREDENTIALS in scripts/dev-vars.ts). */
export const CRM_SECRET = "dev-crm-service-secret";
export const SERVICE_BEARER = { authorization: `Bearer ${CRM_SECRET}` } as const;

/** For code that takes a fetch of its own (the verifier, the client SDK): every URL goes to the broker. */
export const brokerFetch: typeof fetch = (input, init) => exports.default.fetch(input, init);

/** A fetch to the broker that records every call, to count round trips and read what was sent. */
export function countedBrokerFetch(): { fetch: JwksFetch; calls: { url: string; init: RequestInit }[] } {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch: JwksFetch = (url, init) => {
    calls.push({ url, init });
    return exports.default.fetch(url, init);
  };
  return { fetch, calls };
}

export function brokerGet(path: string, query: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Response> {
  const search = new URLSearchParams(query).toString();
  return exports.default.fetch(`${ISSUER}${path}${search ? `?${search}` : ""}`, { headers });
}

/** A form POST; `null` posts nothing (the admin's kill switch takes no body). */
export function brokerPostForm(path: string, fields: Form | null, headers: Record<string, string> = {}): Promise<Response> {
  return exports.default.fetch(`${ISSUER}${path}`, formPost(fields, headers));
}

/** Token exchange with a fresh subject assertion: the simplest way for an agent to ask. */
export async function exchange(agent: AgentId, params: Record<string, string>): Promise<Response> {
  return brokerPostForm("/token", tokenExchangeParams(await assertionFor(agent), params));
}

export async function clientCredentials(agent: AgentId, params: Record<string, string>): Promise<Response> {
  return brokerPostForm("/token", clientCredentialsParams(await assertionFor(agent), { client_id: agent, ...params }));
}

/** client_id and a fresh client assertion, for the endpoints that authenticate the agent as a client (/bc-authorize, CIBA polls). */
export async function clientAuth(agent: AgentId): Promise<Record<string, string>> {
  return clientAuthParams(await assertionFor(agent), agent);
}

/** An access token the broker issues right now (a fresh `jti` every call). */
export async function accessTokenFor(agent: AgentId = "support-bot", scope = CUSTOMERS_READ): Promise<string> {
  const res = await exchange(agent, { scope });
  expect(res.status).toBe(200);
  return (await res.json<{ access_token: string }>()).access_token;
}

/** The broker's published keys, as a downstream service would load them. */
export async function brokerJwks(): Promise<ReturnType<typeof createLocalJWKSet>> {
  const res = await brokerGet("/.well-known/jwks.json");
  return createLocalJWKSet(await res.json());
}
