// The real broker, as an online verifier sees it: tokens from POST /token, its JWKS, /introspect, /revoke and the
// kill switch, all through the Worker's own fetch handler inside this test's workerd.
import { expect } from "vitest";
import { createVerifier, type IntrospectionOptions, type Verifier } from "../../verifier/index.ts";
import { type AgentId, ISSUER } from "./assertions.ts";
import { CRM_API } from "./demo-policy.ts";
import { ADMIN_BEARER, brokerFetch, brokerPostForm, CRM_SECRET, SERVICE_BEARER } from "./requests.ts";

/** A verifier of the CRM, keyed by the broker's JWKS; online when `introspection` is given. */
export function crmVerifier(introspection?: Partial<IntrospectionOptions>): Verifier {
  return createVerifier({
    issuer: ISSUER,
    audience: CRM_API,
    fetch: brokerFetch,
    ...(introspection === undefined ? {} : { introspection: { credential: CRM_SECRET, ...introspection } }),
  });
}

/** RFC 7009 revocation, as the CRM would ask for it. */
export async function revoke(token: string): Promise<void> {
  expect((await brokerPostForm("/revoke", { token }, SERVICE_BEARER)).status).toBe(200);
}

/** The kill switch: POST /admin/agents/<id>/disable or /enable with the admin token. */
export async function killSwitch(agent: AgentId, action: "disable" | "enable"): Promise<void> {
  expect((await brokerPostForm(`/admin/agents/${agent}/${action}`, null, ADMIN_BEARER)).status).toBe(200);
}
