/**
 * Well-formed bodies whose parameters are wrong: unknown grants, malformed authorization_details and context,
 * delegation, unsupported token types and client authentication methods. Each gets the RFC 6749 §5.2 error that
 * names the rule (or the generic invalid_client), and none of them spends the genuine assertion it carries.
 */
import { describe, expect, it } from "vitest";
import { assertionFor, jtiOf } from "../support/assertions.ts";
import { FORM_CONTENT_TYPE } from "../support/http.ts";
import { CLIENT_ASSERTION_TYPE } from "../support/oauth.ts";
import { expectAgentStillServed, expectInvalidClient, expectIssued, expectNotBurnt, expectRefusal } from "../support/token-checks.ts";
import { clientCredentialsForm, ledgerJtis, postToken, tokenExchangeForm } from "../support/token-endpoint.ts";

describe("grant_type", () => {
  it.each(["password", "authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer", "implicit"])(
    "rejects grant_type %s with unsupported_grant_type, spending nothing",
    async (grantType) => {
      const assertion = await assertionFor("support-bot");
      const before = await ledgerJtis("support-bot");
      const result = await postToken(clientCredentialsForm(assertion, { grant_type: grantType }));
      expectRefusal(result, {
        status: 400,
        error: "unsupported_grant_type",
        reason: "unsupported_grant_type",
        description: "grant_type is not supported",
      });
      expect(result.log.grant_type).toBe(grantType);
      await expectNotBurnt(assertion, before);
    },
  );

  it("rejects a request without grant_type with invalid_request naming the parameter", async () => {
    const form = clientCredentialsForm(await assertionFor("support-bot"));
    form.delete("grant_type");
    const result = await postToken(form);
    expectRefusal(result, {
      status: 400,
      error: "invalid_request",
      reason: "missing_parameter",
      description: 'parameter "grant_type" is required',
    });
  });
});

describe("authorization_details (RFC 9396)", () => {
  const withDetails = async (details: string) => {
    const assertion = await assertionFor("support-bot");
    const form = clientCredentialsForm(assertion, { authorization_details: details });
    form.delete("scope");
    return { assertion, form };
  };

  it("rejects authorization_details that is not JSON with invalid_authorization_details", async () => {
    const { assertion, form } = await withDetails('[{"type":"agent_use_case",');
    const before = await ledgerJtis("support-bot");
    expectRefusal(await postToken(form), {
      status: 400,
      error: "invalid_authorization_details",
      reason: "invalid_authorization_details",
      description: "authorization_details: is not valid JSON",
    });
    await expectNotBurnt(assertion, before);
  });

  it("rejects an entry with an unknown member rather than ignoring a constraint it does not understand", async () => {
    const { form } = await withDetails(JSON.stringify([{ type: "agent_use_case", use_case: "crm.customers.read", max_rows: 1_000_000 }]));
    expectRefusal(await postToken(form), {
      status: 400,
      error: "invalid_authorization_details",
      reason: "invalid_authorization_details",
      description: /^authorization_details\[0\]/,
    });
  });

  it("rejects an entry of an unknown type", async () => {
    const { form } = await withDetails(JSON.stringify([{ type: "payment_initiation", use_case: "crm.customers.read" }]));
    expectRefusal(await postToken(form), {
      status: 400,
      error: "invalid_authorization_details",
      reason: "invalid_authorization_details",
      description: /^authorization_details\[0\]\.type/,
    });
  });

  it("rejects authorization_details that is an object instead of an array", async () => {
    const { form } = await withDetails(JSON.stringify({ type: "agent_use_case", use_case: "crm.customers.read" }));
    expectRefusal(await postToken(form), { status: 400, error: "invalid_authorization_details", reason: "invalid_authorization_details" });
  });

  it("rejects two entries with invalid_scope (a token covers exactly one use case), spending nothing", async () => {
    const entry = (useCase: string) => ({ type: "agent_use_case", use_case: useCase });
    const { assertion, form } = await withDetails(JSON.stringify([entry("crm.customers.read"), entry("crm.customers.export")]));
    const before = await ledgerJtis("support-bot");
    expectRefusal(await postToken(form), {
      status: 400,
      error: "invalid_scope",
      reason: "several_use_cases",
      description: "a token covers exactly one use case",
    });
    await expectNotBurnt(assertion, before);
  });

  it("rejects two use cases in scope with invalid_scope", async () => {
    const form = clientCredentialsForm(await assertionFor("support-bot"), { scope: "crm.customers.read crm.customers.export" });
    expectRefusal(await postToken(form), { status: 400, error: "invalid_scope", reason: "several_use_cases" });
  });
});

describe("context and intent", () => {
  it("rejects context that is not JSON with invalid_request", async () => {
    const assertion = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    expectRefusal(await postToken(clientCredentialsForm(assertion, { context: "{ticket: SUP-1}" })), {
      status: 400,
      error: "invalid_request",
      reason: "invalid_parameter",
      description: 'parameter "context" is invalid: (root): is not valid JSON',
    });
    await expectNotBurnt(assertion, before);
  });

  it("rejects a nested context object (conditions only compare flat values)", async () => {
    const form = clientCredentialsForm(await assertionFor("support-bot"), { context: JSON.stringify({ ticket: { $regex: ".*" } }) });
    expectRefusal(await postToken(form), {
      status: 400,
      error: "invalid_request",
      reason: "invalid_parameter",
      description: /^parameter "context"/,
    });
  });

  it("accepts an intent of exactly 500 characters", async () => {
    expectIssued(await postToken(clientCredentialsForm(await assertionFor("support-bot"), { intent: "i".repeat(500) })));
  });

  it("rejects an intent over 500 characters with invalid_request, spending nothing", async () => {
    const assertion = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    expectRefusal(await postToken(clientCredentialsForm(assertion, { intent: "i".repeat(501) })), {
      status: 400,
      error: "invalid_request",
      reason: "invalid_parameter",
      description: 'parameter "intent" is invalid',
    });
    await expectNotBurnt(assertion, before);
  });
});

describe("token exchange parameters (RFC 8693 §2.1)", () => {
  it("rejects an actor_token (delegation) with invalid_request, spending nothing", async () => {
    const subjectToken = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    const actorToken = await assertionFor("billing-agent");
    const result = await postToken(
      tokenExchangeForm(subjectToken, { actor_token: actorToken, actor_token_type: "urn:ietf:params:oauth:token-type:jwt" }),
    );
    expectRefusal(result, {
      status: 400,
      error: "invalid_request",
      reason: "delegation_not_supported",
      description: "actor_token (delegation) is not supported",
    });
    expect(await ledgerJtis("support-bot")).toEqual(before);
    expect(await ledgerJtis("billing-agent")).not.toContain(jtiOf(actorToken));
    expectIssued(await postToken(tokenExchangeForm(subjectToken)));
  });

  it("rejects an actor_token_type without an actor_token", async () => {
    const result = await postToken(
      tokenExchangeForm(await assertionFor("support-bot"), { actor_token_type: "urn:ietf:params:oauth:token-type:jwt" }),
    );
    expectRefusal(result, { status: 400, error: "invalid_request", reason: "delegation_not_supported" });
  });

  it.each([
    "urn:ietf:params:oauth:token-type:access_token",
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:saml2",
    "urn:ietf:params:oauth:token-type:JWT",
  ])("rejects subject_token_type %s with invalid_request, spending nothing", async (tokenType) => {
    const subjectToken = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    expectRefusal(await postToken(tokenExchangeForm(subjectToken, { subject_token_type: tokenType })), {
      status: 400,
      error: "invalid_request",
      reason: "unsupported_token_type",
      description: "subject_token_type is not supported",
    });
    await expectNotBurnt(subjectToken, before);
  });

  it("rejects a subject_token without subject_token_type", async () => {
    const form = tokenExchangeForm(await assertionFor("support-bot"));
    form.delete("subject_token_type");
    expectRefusal(await postToken(form), {
      status: 400,
      error: "invalid_request",
      reason: "missing_parameter",
      description: 'parameter "subject_token_type" is required',
    });
  });

  it("rejects an unsupported requested_token_type", async () => {
    const form = tokenExchangeForm(await assertionFor("support-bot"), {
      requested_token_type: "urn:ietf:params:oauth:token-type:refresh_token",
    });
    expectRefusal(await postToken(form), {
      status: 400,
      error: "invalid_request",
      reason: "unsupported_token_type",
      description: "requested_token_type is not supported",
    });
  });
});

describe("client authentication parameters (RFC 7521 §4.2)", () => {
  it.each(["urn:ietf:params:oauth:client-assertion-type:saml2-bearer", "jwt-bearer", ""])(
    "rejects client_assertion_type %j with a generic invalid_client, spending nothing",
    async (assertionType) => {
      const assertion = await assertionFor("support-bot");
      const before = await ledgerJtis("support-bot");
      const result = await postToken(clientCredentialsForm(assertion, { client_assertion_type: assertionType }));
      expectRefusal(result, {
        status: 401,
        error: "invalid_client",
        reason: "client_assertion_type_unsupported",
        description: "client authentication failed",
      });
      await expectNotBurnt(assertion, before);
    },
  );

  it("rejects a client_assertion sent without client_assertion_type", async () => {
    const form = clientCredentialsForm(await assertionFor("support-bot"));
    form.delete("client_assertion_type");
    expectRefusal(await postToken(form), { status: 401, error: "invalid_client", reason: "client_assertion_type_unsupported" });
  });

  it("rejects client_assertion_type sent without a client_assertion", async () => {
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      scope: "crm.customers.read",
    });
    expectRefusal(await postToken(form), { status: 401, error: "invalid_client", reason: "client_authentication_missing" });
  });

  it("rejects client_credentials from a public client that only names itself with client_id", async () => {
    const form = new URLSearchParams({ grant_type: "client_credentials", client_id: "support-bot", scope: "crm.customers.read" });
    expectRefusal(await postToken(form), {
      status: 401,
      error: "invalid_client",
      reason: "client_authentication_missing",
      description: "client authentication failed",
    });
    await expectAgentStillServed("support-bot");
  });

  it("does not accept a shared secret (client_secret_basic) in place of a signed assertion", async () => {
    const basic = `Basic ${btoa("support-bot:hunter2")}`;
    const form = new URLSearchParams({ grant_type: "client_credentials", scope: "crm.customers.read" });
    const result = await postToken(form, { "content-type": FORM_CONTENT_TYPE, authorization: basic });
    expectRefusal(result, {
      status: 401,
      error: "invalid_client",
      reason: "client_auth_method_unsupported",
      description: "client authentication failed: use private_key_jwt (RFC 7523)",
    });
  });

  // RFC 6749 §5.2: when the client tried to authenticate with the Authorization header, a 401 invalid_client
  // MUST carry a WWW-Authenticate challenge for that scheme. Writ supports only private_key_jwt.
  it("answers a client_secret_basic attempt with a WWW-Authenticate challenge (RFC 6749 §5.2)", async () => {
    const form = new URLSearchParams({ grant_type: "client_credentials", scope: "crm.customers.read" });
    const result = await postToken(form, { "content-type": FORM_CONTENT_TYPE, authorization: `Basic ${btoa("support-bot:hunter2")}` });
    expect(result.status).toBe(401);
    expect(result.headers.get("www-authenticate")).toMatch(/^Basic /);
  });

  it("rejects an empty client_assertion as a malformed request", async () => {
    const result = await postToken(clientCredentialsForm("", {}));
    expectRefusal(result, {
      status: 400,
      error: "invalid_request",
      reason: "invalid_parameter",
      description: 'parameter "client_assertion" is invalid',
    });
  });

  it("keeps the generic answer for a garbage assertion", async () => {
    expectInvalidClient(await postToken(clientCredentialsForm("%00%ff garbage")), "malformed");
  });
});
