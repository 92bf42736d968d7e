// The broker and a downstream service together: a real token from POST /token, checked by the verifier against the
// broker's real JWKS, at the customers API example.
import { createExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { requestToken } from "../../client/index.ts";
import { createCustomersApp } from "../../examples/customers-api/app.ts";
import customersWorker from "../../examples/customers-api/index.ts";
import { createVerifier, DPOP_ALGORITHMS, WritVerifyError } from "../../verifier/index.ts";
import { jwksOf, signToken, testKey } from "../support/access-tokens.ts";
import { agentPrivateJwk, ISSUER } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_READ, CUSTOMERS_TABLE } from "../support/demo-policy.ts";
import { bearer } from "../support/http.ts";
import { rejectionOf } from "../support/rejection.ts";
import { brokerFetch, countedBrokerFetch } from "../support/requests.ts";

/** What the middleware offers beside Bearer since it checks DPoP proofs (RFC 9449 §7.1). */
const DPOP_CHALLENGE = `DPoP realm="${CRM_API}", algs="${DPOP_ALGORITHMS.join(" ")}"`;

async function supportBotToken(): Promise<string> {
  const response = await requestToken({
    issuer: ISSUER,
    agentId: "support-bot",
    privateJwk: agentPrivateJwk("support-bot"),
    useCase: CUSTOMERS_READ,
    intent: "look up the customer on ticket SUP-42",
    fetch: brokerFetch,
  });
  return response.access_token;
}

describe("customers API example behind a real Writ broker", () => {
  let token: string;
  let app: ReturnType<typeof createCustomersApp>;

  beforeAll(async () => {
    token = await supportBotToken();
    app = createCustomersApp(createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: brokerFetch }));
  });

  it("serves rows to a broker-issued token, within the grant's max_rows", async () => {
    const res = await app.request("/customers?limit=50", bearer(token));
    expect(res.status).toBe(200);
    const body = await res.json<{ rows: unknown[]; limit: number; agent: string }>();
    expect(body).toMatchObject({ limit: 50, agent: "support-bot" });
    expect(body.rows).toHaveLength(50);
  });

  it("serves min(20, max_rows) rows when the agent names no limit", async () => {
    const res = await app.request("/customers", bearer(token));
    expect(res.status).toBe(200);
    expect((await res.json<{ rows: unknown[] }>()).rows).toHaveLength(20);
  });

  it("serves exactly max_rows (100, from the policy) rows", async () => {
    const res = await app.request("/customers?limit=100", bearer(token));
    expect(res.status).toBe(200);
  });

  it("refuses a limit above the grant's max_rows with 403 naming the limit", async () => {
    const res = await app.request("/customers?limit=101", bearer(token));
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: "limit_exceeded",
      error_description: "limit 101 exceeds the grant's max_rows of 100",
      limit: "max_rows",
      max: 100,
    });
  });

  it.each(["0", "-1", "ten", "1e3"])("refuses limit=%s with 400", async (limit) => {
    const res = await app.request(`/customers?limit=${limit}`, bearer(token));
    expect(res.status).toBe(400);
  });

  it("verifies every request against one cached fetch of the broker's JWKS", async () => {
    const counted = countedBrokerFetch();
    const fresh = createCustomersApp(createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: counted.fetch }));
    for (const limit of [1, 10, 100]) expect((await fresh.request(`/customers?limit=${limit}`, bearer(token))).status).toBe(200);
    expect(counted.calls.map((call) => call.url)).toEqual([`${ISSUER}/.well-known/jwks.json`]);
  });

  it("refuses a token signed with a key the broker does not publish (401, ERR_WRIT_KEY_UNKNOWN)", async () => {
    const forged = await signToken(await testKey("rogue-1"));
    const verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: brokerFetch });
    await expect(verifier.verify(forged, { scope: CUSTOMERS_READ })).rejects.toMatchObject({ code: "ERR_WRIT_KEY_UNKNOWN" });
    const res = await createCustomersApp(verifier).request("/customers", bearer(forged));
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toContain('error="invalid_token"');
  });

  it("refuses the CRM token at another service (401, ERR_WRIT_AUDIENCE_INVALID)", async () => {
    const billing = createVerifier({ issuer: ISSUER, audience: "https://billing.example.com", fetch: brokerFetch });
    expect((await rejectionOf(billing.verify(token), WritVerifyError)).code).toBe("ERR_WRIT_AUDIENCE_INVALID");
    const res = await createCustomersApp(billing).request("/customers", bearer(token));
    expect(res.status).toBe(401);
  });

  it("answers a request without a token with a Bearer challenge", async () => {
    const res = await app.request("/customers");
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe(`Bearer realm="${CRM_API}", ${DPOP_CHALLENGE}`);
  });
});

describe("customers API enforces what the grant carries, not what the use case usually allows", () => {
  it.each<[string, Record<string, unknown>, string]>([
    ["narrowed to other actions", { actions: ["export"] }, 'the grant does not include the "read" action'],
    [
      "narrowed to other locations",
      { locations: ["https://crm.example.com/tables/invoices"] },
      "the grant does not include the customers table",
    ],
    ["without a max_rows limit", { limits: {} }, "the grant carries no max_rows limit"],
  ])("refuses a grant %s with 403", async (_label, narrowed, description) => {
    const key = await testKey("writ-1");
    const detail = {
      type: "agent_use_case",
      use_case: CUSTOMERS_READ,
      actions: ["read"],
      locations: [CUSTOMERS_TABLE],
      limits: { max_rows: 100 },
    };
    const token = await signToken(key, { claims: { authorization_details: [{ ...detail, ...narrowed }] } });
    const app = createCustomersApp(createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key) }));
    const res = await app.request("/customers?limit=1", bearer(token));
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: "insufficient_authorization", error_description: description });
  });
});

describe("customers API Worker entry", () => {
  const env = { WRIT_ISSUER: ISSUER, AUDIENCE: CRM_API };
  const ctx = createExecutionContext();

  it("builds its verifier from WRIT_ISSUER and AUDIENCE and challenges a request without a token", async () => {
    const res = await customersWorker.fetch(new Request("https://crm.example.com/customers"), env, ctx);
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe(`Bearer realm="${CRM_API}", ${DPOP_CHALLENGE}`);
  });

  it("fails loudly on a misconfigured issuer instead of refusing every token", async () => {
    const bad = { WRIT_ISSUER: "writ.example.com", AUDIENCE: CRM_API };
    expect(() => customersWorker.fetch(new Request("https://crm.example.com/customers"), bad, ctx)).toThrow(TypeError);
  });
});
