/**
 * An attacker without an agent's private key tries to get a token with a forged or bent identity proof.
 * Every refusal must be the generic invalid_client (client_assertion) or invalid_grant (subject_token) on the
 * wire, name the failed check only in the log, and leave the agent's replay ledger untouched.
 */
import { describe, expect, it } from "vitest";
import { agentPrivateJwk, assertionClaims, assertionFor, ISSUER, jtiOf, signWithAgentKey } from "../support/assertions.ts";
import { FORGERIES, handSignedAssertion, signWithAttackerKey } from "../support/forgeries.ts";
import type { RequestLogLine } from "../support/logs.ts";
import { CLIENT_ASSERTION_TYPE } from "../support/oauth.ts";
import {
  expectAgentStillServed,
  expectInvalidClient,
  expectInvalidSubjectToken,
  expectIssued,
  expectRefusal,
  GENERIC_CLIENT_FAILURE,
} from "../support/token-checks.ts";
import { clientCredentialsForm, ledgerJtis, postToken, TOKEN_ENDPOINT, tokenExchangeForm } from "../support/token-endpoint.ts";

/** The log line names the failed check, never the proof itself (worker/log.ts: ids and codes only). */
function expectNotLogged(log: RequestLogLine, token: string): void {
  const text = JSON.stringify(log);
  for (const part of token.split(".")) if (part.length >= 16) expect(text).not.toContain(part);
}

describe("genuine assertions (the baseline the attacks bend)", () => {
  it("issues a token for a genuine ES256 client assertion and burns its jti", async () => {
    const assertion = await assertionFor("support-bot");
    expectIssued(await postToken(clientCredentialsForm(assertion)));
    expect(await ledgerJtis("support-bot")).toContain(jtiOf(assertion));
  });

  it("accepts an Ed25519 assertion under both alg names, EdDSA and Ed25519", async () => {
    const claims = () => assertionClaims("billing-agent");
    expectIssued(await postToken(clientCredentialsForm(await signWithAgentKey("billing-agent", claims(), { alg: "EdDSA" }))));
    expectIssued(await postToken(clientCredentialsForm(await signWithAgentKey("billing-agent", claims(), { alg: "Ed25519" }))));
  });

  it("accepts an ES256 assertion signed by hand with WebCrypto (control for the crit forgery)", async () => {
    expectIssued(await postToken(clientCredentialsForm(await handSignedAssertion("support-bot", { alg: "ES256", kid: "support-bot-1" }))));
  });

  it("accepts an audience array holding nothing but the issuer and the token endpoint URL", async () => {
    for (const aud of [[ISSUER], [ISSUER, TOKEN_ENDPOINT], [TOKEN_ENDPOINT, ISSUER]])
      expectIssued(await postToken(clientCredentialsForm(await signWithAgentKey("support-bot", assertionClaims("support-bot", { aud })))));
  });
});

/**
 * Audience injection (draft-ietf-oauth-rfc7523bis, Hosseyni et al. 2025): a malicious authorization server names
 * Writ's token endpoint as one of its own endpoints, so an agent talking to it signs an assertion for that URL, and
 * the attacker replays it here. An assertion counts only when it names Writ's issuer identifier, which such an
 * attacker cannot make a client sign for; an array may add the token endpoint URL and nothing else.
 */
describe("audience injection (RFC 7523bis)", () => {
  const FOREIGN = "https://as.evil.example.com/token";
  it.each<[string, string | string[]]>([
    ["the token endpoint URL as its only audience", TOKEN_ENDPOINT],
    ["an audience array of the token endpoint URL alone", [TOKEN_ENDPOINT]],
    ["an audience array that adds a foreign audience to the issuer and the token endpoint", [ISSUER, TOKEN_ENDPOINT, FOREIGN]],
    ["an audience array that puts a foreign audience before the issuer", [FOREIGN, ISSUER]],
    ["an audience array that adds the issuer with a trailing slash", [ISSUER, `${ISSUER}/`]],
    ["an empty audience array", []],
  ])("rejects a genuine assertion with %s, burning nothing", async (_label, aud) => {
    const before = await ledgerJtis("support-bot");
    const assertion = await signWithAgentKey("support-bot", assertionClaims("support-bot", { aud }));
    expectInvalidClient(await postToken(clientCredentialsForm(assertion)), "wrong_audience");
    expectInvalidSubjectToken(await postToken(tokenExchangeForm(assertion)), "wrong_audience");
    expect(await ledgerJtis("support-bot")).toEqual(before);
    expect(before).not.toContain(jtiOf(assertion));
    await expectAgentStillServed("support-bot");
  });
});

describe("forged client assertions (private_key_jwt, RFC 7523 §2.2)", () => {
  it.each(FORGERIES)("rejects $name with a generic invalid_client", async ({ agentId, failure, make }) => {
    const before = await ledgerJtis(agentId);
    const forged = await make();
    const result = await postToken(clientCredentialsForm(forged));
    expectInvalidClient(result, failure);
    expectNotLogged(result.log, forged);
    expect(await ledgerJtis(agentId)).toEqual(before);
    await expectAgentStillServed(agentId);
  });

  it("gives the same wire answer whichever identity check failed", async () => {
    const bodies = new Set<string>();
    for (const forgery of FORGERIES) bodies.add(JSON.stringify((await postToken(clientCredentialsForm(await forgery.make()))).body));
    expect([...bodies]).toEqual([JSON.stringify({ error: "invalid_client", error_description: GENERIC_CLIENT_FAILURE })]);
  });

  it("rejects a genuine assertion sent with a client_id naming another agent (RFC 7521 §4.2)", async () => {
    const before = { support: await ledgerJtis("support-bot"), billing: await ledgerJtis("billing-agent") };
    const result = await postToken(clientCredentialsForm(await assertionFor("support-bot"), { client_id: "billing-agent" }));
    expectInvalidClient(result, "client_id_mismatch");
    expect({ support: await ledgerJtis("support-bot"), billing: await ledgerJtis("billing-agent") }).toEqual(before);
  });

  it("accepts a genuine assertion whose client_id names the same agent", async () => {
    expectIssued(await postToken(clientCredentialsForm(await assertionFor("support-bot"), { client_id: "support-bot" })));
  });

  it("rejects a broker-issued access token presented as a client assertion (signed by the broker, not the agent)", async () => {
    const accessToken = expectIssued(await postToken(clientCredentialsForm(await assertionFor("support-bot"))));
    const before = await ledgerJtis("support-bot");
    expectInvalidClient(await postToken(clientCredentialsForm(accessToken)), "issuer_subject_mismatch");
    expect(await ledgerJtis("support-bot")).toEqual(before);
  });

  it("refuses a disabled agent's genuine assertion and burns nothing", async () => {
    const before = await ledgerJtis("retired-bot");
    const result = await postToken(clientCredentialsForm(await assertionFor("retired-bot")));
    expectRefusal(result, { status: 403, error: "access_denied", reason: "agent_disabled", description: "agent is disabled" });
    expect(await ledgerJtis("retired-bot")).toEqual(before);
  });

  it("does not accept the agent's private key material in place of a signature", async () => {
    // A confused client that sends its JWK: the broker must treat it as garbage, and must not echo it.
    const result = await postToken(clientCredentialsForm(JSON.stringify(agentPrivateJwk("support-bot"))));
    expectInvalidClient(result, "malformed");
    expect(JSON.stringify(result.body)).not.toContain(agentPrivateJwk("support-bot").d);
    expect(JSON.stringify(result.log)).not.toContain(agentPrivateJwk("support-bot").d);
  });
});

describe("forged subject tokens (token exchange, RFC 8693 §2.1)", () => {
  it.each(FORGERIES)("rejects $name with invalid_grant", async ({ agentId, failure, make }) => {
    const before = await ledgerJtis(agentId);
    const forged = await make();
    const result = await postToken(tokenExchangeForm(forged));
    expectInvalidSubjectToken(result, failure);
    expectNotLogged(result.log, forged);
    expect(await ledgerJtis(agentId)).toEqual(before);
    await expectAgentStillServed(agentId);
  });

  it("rejects a broker-issued access token presented as a subject_token (signed by the broker, not the agent)", async () => {
    const accessToken = expectIssued(await postToken(tokenExchangeForm(await assertionFor("support-bot"))));
    const before = await ledgerJtis("support-bot");
    const result = await postToken(tokenExchangeForm(accessToken));
    expectInvalidSubjectToken(result, "issuer_subject_mismatch");
    expect(await ledgerJtis("support-bot")).toEqual(before);
    expect(before).not.toContain(jtiOf(accessToken));
  });

  it("rejects a broker-issued access token declared as an access_token subject (token type not accepted)", async () => {
    const accessToken = expectIssued(await postToken(tokenExchangeForm(await assertionFor("support-bot"))));
    const result = await postToken(tokenExchangeForm(accessToken, { subject_token_type: "urn:ietf:params:oauth:token-type:access_token" }));
    expectRefusal(result, {
      status: 400,
      error: "invalid_request",
      reason: "unsupported_token_type",
      description: "subject_token_type is not supported",
    });
  });

  it("rejects a genuine subject_token sent with a client_id naming another agent", async () => {
    const before = await ledgerJtis("support-bot");
    const result = await postToken(tokenExchangeForm(await assertionFor("support-bot"), { client_id: "billing-agent" }));
    expectRefusal(result, {
      status: 400,
      error: "invalid_grant",
      reason: "subject_client_mismatch",
      description: "subject_token and client authentication name different agents",
    });
    expect(await ledgerJtis("support-bot")).toEqual(before);
  });

  it("rejects a subject_token of one agent with client authentication of another, burning neither proof", async () => {
    const clientAssertion = await assertionFor("support-bot");
    const subjectToken = await assertionFor("billing-agent");
    const before = { support: await ledgerJtis("support-bot"), billing: await ledgerJtis("billing-agent") };
    const result = await postToken(
      tokenExchangeForm(subjectToken, { client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion }),
    );
    expectRefusal(result, { status: 400, error: "invalid_grant", reason: "subject_client_mismatch" });
    expect({ support: await ledgerJtis("support-bot"), billing: await ledgerJtis("billing-agent") }).toEqual(before);
    // Neither proof was spent, so each still works for its own agent.
    expectIssued(await postToken(clientCredentialsForm(clientAssertion)));
    expectIssued(await postToken(tokenExchangeForm(subjectToken)));
  });

  it("rejects a forged client assertion even when the subject_token is genuine, and does not burn the subject_token", async () => {
    const subjectToken = await assertionFor("support-bot");
    const forged = await signWithAttackerKey("ES256", "support-bot", { kid: "support-bot-1" });
    const result = await postToken(
      tokenExchangeForm(subjectToken, { client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: forged }),
    );
    expectInvalidClient(result, "bad_signature");
    expect(await ledgerJtis("support-bot")).not.toContain(jtiOf(subjectToken));
    expectIssued(await postToken(tokenExchangeForm(subjectToken)));
  });
});
