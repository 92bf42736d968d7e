// The real broker, as an online verifier sees it: tokens from POST /token, its JWKS, /introspect, /revoke and the
// kill switch, all through exports.default.fetch inside this test's workerd.
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { createVerifier, type IntrospectionFetch, type IntrospectionOptions, type Verifier } from "../../verifier/index.ts";
import { type DemoAgent, exchange } from "../support/broker.ts";
import { AUDIENCE, ISSUER, USE_CASE } from "./tokens.ts";

/** SERVICE_CREDENTIALS in scripts/dev-vars.ts: the CRM's secret at the broker. */
export const CRM_SECRET = "dev-crm-service-secret";
const ADMIN = { Authorization: "Bearer dev-admin-token" };
const SERVICE = { Authorization: `Bearer ${CRM_SECRET}` };

export const brokerFetch: IntrospectionFetch = (url, init) => exports.default.fetch(url, init);

/** A crm.customers.read token the broker issues right now; every call gets a fresh `jti`. */
export async function brokerToken(agent: DemoAgent = "support-bot"): Promise<string> {
  const res = await exchange(agent, { scope: USE_CASE });
  expect(res.status).toBe(200);
  return (await res.json<{ access_token: string }>()).access_token;
}

/** The broker's /introspect behind a fetch that records every call, to count round trips and read what was sent. */
export function countedIntrospection() {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch: IntrospectionFetch = (url, init) => {
    calls.push({ url, init });
    return exports.default.fetch(url, init);
  };
  return { fetch, calls };
}

/** A verifier of the CRM, keyed by the broker's JWKS; online when `introspection` is given. */
export function crmVerifier(introspection?: Partial<IntrospectionOptions>): Verifier {
  return createVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    fetch: brokerFetch,
    ...(introspection === undefined ? {} : { introspection: { credential: CRM_SECRET, ...introspection } }),
  });
}

function post(path: string, headers: Record<string, string>, form?: Record<string, string>): Promise<Response> {
  return exports.default.fetch(`${ISSUER}${path}`, {
    method: "POST",
    headers: form === undefined ? headers : { ...headers, "content-type": "application/x-www-form-urlencoded" },
    body: form === undefined ? null : new URLSearchParams(form),
  });
}

/** RFC 7009 revocation, as the CRM would ask for it. */
export async function revoke(token: string): Promise<void> {
  expect((await post("/revoke", SERVICE, { token })).status).toBe(200);
}

/** The kill switch: POST /admin/agents/<id>/disable or /enable with the admin token. */
export async function killSwitch(agent: DemoAgent, action: "disable" | "enable"): Promise<void> {
  expect((await post(`/admin/agents/${agent}/${action}`, ADMIN)).status).toBe(200);
}
