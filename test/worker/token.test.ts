import { decodeProtectedHeader, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { signAgentAssertion } from "../../client/index.ts";
import { agentPrivateJwk, assertionFor, ISSUER } from "../support/assertions.ts";
import { CUSTOMERS_READ, CUSTOMERS_TABLE } from "../support/demo-policy.ts";
import type { OAuthError } from "../support/oauth.ts";
import { brokerJwks, brokerPostForm, clientCredentials, exchange } from "../support/requests.ts";

describe("POST /token issues a token for exactly one use case", () => {
  it("exchanges an agent assertion (RFC 8693) for an RFC 9068 access token", async () => {
    const res = await exchange("support-bot", { scope: "crm.customers.read", intent: "look up the customer on SUP-1" });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = await res.json<Record<string, unknown>>();
    expect(body).toMatchObject({
      token_type: "Bearer",
      expires_in: 300,
      scope: "crm.customers.read",
      issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
    });
    const token = body.access_token as string;
    expect(decodeProtectedHeader(token)).toMatchObject({ typ: "at+jwt", alg: "ES256" });
    const { payload } = await jwtVerify(token, await brokerJwks(), {
      issuer: ISSUER,
      audience: "https://crm.example.com",
      typ: "at+jwt",
      algorithms: ["ES256"],
    });
    expect(payload).toMatchObject({
      sub: "support-bot",
      client_id: "support-bot",
      scope: "crm.customers.read",
      intent: "look up the customer on SUP-1",
      authorization_details: [
        { type: "agent_use_case", use_case: CUSTOMERS_READ, actions: ["read"], locations: [CUSTOMERS_TABLE], limits: { max_rows: 100 } },
      ],
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);
    expect(payload.nbf).toBe(payload.iat);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("issues the same kind of token for client_credentials with private_key_jwt", async () => {
    const res = await clientCredentials("billing-agent", { scope: "crm.customers.read" });
    expect(res.status).toBe(200);
    const body = await res.json<Record<string, unknown>>();
    expect(body.issued_token_type).toBeUndefined();
    const { payload } = await jwtVerify(body.access_token as string, await brokerJwks(), { issuer: ISSUER, typ: "at+jwt" });
    expect(payload.sub).toBe("billing-agent");
  });

  it("accepts an Ed25519 assertion under both alg names", async () => {
    // billing-agent's key is Ed25519; openid-client signs with alg "Ed25519", others with "EdDSA".
    for (const alg of ["EdDSA", "Ed25519"]) {
      const assertion = await signAgentAssertion({
        agentId: "billing-agent",
        privateJwk: { ...agentPrivateJwk("billing-agent"), alg },
        audience: ISSUER,
      });
      expect(decodeProtectedHeader(assertion).alg).toBe(alg);
      const res = await brokerPostForm("/token", {
        grant_type: "client_credentials",
        client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion: assertion,
        scope: "crm.customers.read",
      });
      expect(res.status, alg).toBe(200);
    }
  });

  it("refuses the token endpoint URL as the only assertion audience (RFC 7523bis: the issuer must be named)", async () => {
    const res = await brokerPostForm("/token", {
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: await assertionFor("support-bot", { audience: `${ISSUER}/token` }),
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      scope: "crm.customers.read",
    });
    expect({ status: res.status, body: await res.json() }).toEqual({
      status: 400,
      body: { error: "invalid_grant", error_description: "subject_token is invalid" },
    });
  });

  it("accepts the same JWT as client assertion and subject token, once", async () => {
    const assertion = await assertionFor("support-bot");
    const params = {
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      client_id: "support-bot",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: assertion,
      subject_token: assertion,
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      scope: "crm.customers.read",
    };
    expect((await brokerPostForm("/token", params)).status).toBe(200);
    expect((await brokerPostForm("/token", params)).status).toBe(401);
  });

  it("narrows actions through authorization_details and echoes what was granted", async () => {
    const res = await exchange("billing-agent", {
      authorization_details: JSON.stringify([{ type: "agent_use_case", use_case: "crm.customers.read", actions: ["read"] }]),
    });
    expect(res.status).toBe(200);
    const body = await res.json<{ scope: string; authorization_details: unknown }>();
    expect(body.scope).toBe("crm.customers.read");
    expect(body.authorization_details).toEqual([
      {
        type: "agent_use_case",
        use_case: "crm.customers.read",
        actions: ["read"],
        locations: ["https://crm.example.com/tables/customers"],
        limits: { max_rows: 100 },
      },
    ]);
  });
});

describe("POST /token refuses with the rule that failed", () => {
  const cases: [string, () => Promise<Response>, number, string, RegExp][] = [
    ["no use case", () => exchange("support-bot", {}), 400, "invalid_scope", /exactly one use case/],
    [
      "two use cases",
      () => exchange("support-bot", { scope: "crm.customers.read crm.customers.export" }),
      400,
      "invalid_scope",
      /exactly one/,
    ],
    [
      "an unknown use case",
      () => exchange("support-bot", { scope: "crm.everything" }),
      400,
      "invalid_scope",
      /unknown use case "crm.everything"/,
    ],
    [
      "a use case not allowed to the agent",
      () => exchange("support-bot", { scope: "billing.invoices.refund" }),
      400,
      "invalid_scope",
      /not allowed/,
    ],
    [
      "a service the use case does not allow",
      () => exchange("support-bot", { scope: "crm.customers.read", resource: "https://billing.example.com" }),
      400,
      "invalid_target",
      /billing.example.com/,
    ],
    [
      "an action beyond the use case",
      () =>
        exchange("support-bot", {
          authorization_details: JSON.stringify([{ type: "agent_use_case", use_case: "crm.customers.read", actions: ["delete"] }]),
        }),
      400,
      "invalid_authorization_details",
      /action "delete"/,
    ],
    ["a disabled agent", () => exchange("retired-bot", { scope: "crm.customers.read" }), 403, "access_denied", /agent is disabled/],
    [
      "a missing required context",
      () => exchange("support-bot", { scope: "crm.customers.export", intent: "export for ticket" }),
      403,
      "access_denied",
      /context\.ticket/,
    ],
    [
      "a context that does not match its pattern",
      () => exchange("support-bot", { scope: "crm.customers.export", intent: "export", context: '{"ticket":"OPS-1"}' }),
      403,
      "access_denied",
      /context\.ticket/,
    ],
    [
      "a missing required intent",
      () => exchange("support-bot", { scope: "crm.customers.export", context: '{"ticket":"SUP-1"}' }),
      403,
      "access_denied",
      /intent/,
    ],
    [
      "a use case that needs approval",
      () => exchange("support-bot", { scope: "crm.customers.export", intent: "export", context: '{"ticket":"SUP-1"}' }),
      403,
      "approval_required",
      /human approval/,
    ],
  ];

  for (const [what, send, status, error, description] of cases) {
    it(`refuses ${what}`, async () => {
      const res = await send();
      expect(res.status).toBe(status);
      expect(res.headers.get("cache-control")).toBe("no-store");
      const body = await res.json<OAuthError>();
      expect(body.error).toBe(error);
      expect(body.error_description).toMatch(description);
    });
  }

  it("does not burn the assertion of a refused request", async () => {
    const assertion = await assertionFor("support-bot");
    const ask = (scope: string) =>
      brokerPostForm("/token", {
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token: assertion,
        subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
        scope,
      });
    expect((await ask("crm.everything")).status).toBe(400);
    expect((await ask("crm.customers.read")).status).toBe(200);
  });
});
