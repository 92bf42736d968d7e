/**
 * DPoP at the token endpoint (RFC 9449 §5): an agent that sends a proof gets a token bound to its key, and whoever
 * holds a stolen or crafted proof gets nothing, spends nothing and leaves no token behind. A captured proof is
 * refused the second time by the agent's ledger, atomically with the token it would have bought.
 */

import { exports } from "cloudflare:workers";
import { decodeJwt, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { dpopLedgerJti } from "../../core/dpop/token-request-proof.ts";
import { DPOP_ALGORITHMS } from "../../schemas/dpop.ts";
import { createVerifier } from "../../verifier/index.ts";
import { assertionFor, ISSUER, jtiOf } from "../support/assertions.ts";
import { approvalIdOf, decideByMail, ledgerTokenIds, letTimePass, pollForm, startApproval, withUseCase } from "../support/ciba.ts";
import { CRM_API, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { type DpopKey, dpopKey, dpopProof } from "../support/dpop-proofs.ts";
import { FORM_CONTENT_TYPE, formPost } from "../support/http.ts";
import { withRequestLog } from "../support/logs.ts";
import { brokerFetch, brokerGet, brokerJwks, brokerPostForm, SERVICE_BEARER } from "../support/requests.ts";
import { expectIssued, expectNotBurnt, expectRefusal } from "../support/token-checks.ts";
import {
  clientCredentialsForm,
  ledgerJtis,
  postToken,
  sendRawRequest,
  TOKEN_ENDPOINT,
  type TokenExchangeResult,
  tokenExchangeForm,
} from "../support/token-endpoint.ts";

const FORM = { "content-type": FORM_CONTENT_TYPE };

function postWithProof(form: URLSearchParams, proof: string): Promise<TokenExchangeResult> {
  return postToken(form, { ...FORM, DPoP: proof });
}

const tokenProof = (key: DpopKey, options: Partial<Parameters<typeof dpopProof>[1]> = {}) =>
  dpopProof(key, { htu: TOKEN_ENDPOINT, ...options });

async function boundPayload(result: TokenExchangeResult) {
  const token = expectIssued(result);
  const { payload } = await jwtVerify(token, await brokerJwks(), { issuer: ISSUER, typ: "at+jwt" });
  return { token, payload };
}

/**
 * RFC 9449 §5: 400 invalid_dpop_proof, exactly, never cached, no token, and the log holds the reason. (Not
 * expectRefusal: which check failed may be logged as `failure`, which that helper pins to identity failures.)
 */
function expectBadProof(result: TokenExchangeResult, description: string | RegExp): void {
  expect({ status: result.status, error: result.body.error }).toEqual({ status: 400, error: "invalid_dpop_proof" });
  expect(Object.keys(result.body).sort()).toEqual(["error", "error_description"]);
  if (typeof description === "string") expect(result.body.error_description).toBe(description);
  else expect(result.body.error_description).toMatch(description);
  expect(result.headers.get("cache-control")).toBe("no-store");
  expect(result.log).toMatchObject({ status: 400, decision: "denied", reason: "invalid_dpop_proof" });
}

describe("POST /token with a DPoP proof: bound tokens", () => {
  it("binds a client_credentials token to the proof's key (token_type DPoP, cnf.jkt) and burns the proof with it", async () => {
    const key = await dpopKey();
    const proof = await tokenProof(key);
    const result = await postWithProof(clientCredentialsForm(await assertionFor("support-bot")), proof);
    const { payload } = await boundPayload(result);
    expect(result.body.token_type).toBe("DPoP");
    expect(payload.cnf).toEqual({ jkt: key.jkt });
    expect(await ledgerJtis("support-bot")).toContain(dpopLedgerJti(key.jkt, jtiOf(proof)));
  });

  it("binds a token exchange token, with an Ed25519 proof key", async () => {
    const key = await dpopKey("EdDSA");
    const result = await postWithProof(tokenExchangeForm(await assertionFor("billing-agent")), await tokenProof(key));
    const { payload } = await boundPayload(result);
    expect(result.body).toMatchObject({ token_type: "DPoP", issued_token_type: "urn:ietf:params:oauth:token-type:access_token" });
    expect(payload.cnf).toEqual({ jkt: key.jkt });
  });

  it("still issues Bearer tokens without cnf to a request without a proof", async () => {
    const result = await postToken(clientCredentialsForm(await assertionFor("support-bot")));
    const { payload } = await boundPayload(result);
    expect(result.body.token_type).toBe("Bearer");
    expect(payload).not.toHaveProperty("cnf");
  });

  it("issues a token the verifier accepts only with a proof of the same key for the service's request", async () => {
    const key = await dpopKey();
    const result = await postWithProof(clientCredentialsForm(await assertionFor("support-bot")), await tokenProof(key));
    const { token } = await boundPayload(result);
    const verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: brokerFetch });
    const url = `${CRM_API}/customers`;
    const proof = await dpopProof(key, { htm: "GET", htu: url, accessToken: token });
    const request = new Request(url, { headers: { Authorization: `DPoP ${token}`, DPoP: proof } });
    await expect(verifier.verifyRequest(request, { scope: CUSTOMERS_READ })).resolves.toMatchObject({ agent: "support-bot" });
    const stolen = new Request(url, { headers: { Authorization: `Bearer ${token}` } });
    await expect(verifier.verifyRequest(stolen, { scope: CUSTOMERS_READ })).rejects.toMatchObject({ code: "ERR_WRIT_DPOP_REQUIRED" });
  });

  it("lists dpop_signing_alg_values_supported in the metadata (RFC 9449 §5.1)", async () => {
    const metadata = await (await brokerGet("/.well-known/oauth-authorization-server")).json<Record<string, unknown>>();
    expect(metadata.dpop_signing_alg_values_supported).toEqual([...DPOP_ALGORITHMS]);
  });

  it("introspects a bound token as token_type DPoP with its cnf (RFC 9449 §6.2)", async () => {
    const key = await dpopKey();
    const { token } = await boundPayload(
      await postWithProof(clientCredentialsForm(await assertionFor("support-bot")), await tokenProof(key)),
    );
    const answer = await (await brokerPostForm("/introspect", { token }, SERVICE_BEARER)).json<Record<string, unknown>>();
    expect(answer).toMatchObject({ active: true, token_type: "DPoP", cnf: { jkt: key.jkt } });
  });
});

describe("POST /token: DPoP proofs an attacker sends (refused, nothing spent, no token)", () => {
  it.each<[string, (key: DpopKey) => Promise<string>, string | RegExp]>([
    ["a proof for another URL", (key) => tokenProof(key, { htu: `${ISSUER}/introspect` }), "DPoP proof htu must be the token endpoint URL"],
    [
      "a proof for another host",
      (key) => tokenProof(key, { htu: "https://evil.example/token" }),
      "DPoP proof htu must be the token endpoint URL",
    ],
    ["a proof for another method", (key) => tokenProof(key, { htm: "GET" }), "DPoP proof htm must be POST"],
    [
      "a stale proof (iat 5 minutes ago)",
      (key) => tokenProof(key, { claims: { iat: Math.floor(Date.now() / 1000) - 300 } }),
      "DPoP proof iat is not current: make a new proof for each request",
    ],
    [
      "a proof dated an hour ahead",
      (key) => tokenProof(key, { claims: { iat: Math.floor(Date.now() / 1000) + 3600 } }),
      "DPoP proof iat is not current: make a new proof for each request",
    ],
    [
      "a proof carrying its private key",
      (key) => tokenProof(key, { header: { jwk: key.privateJwk } }),
      "DPoP proof jwk header must hold the public key only",
    ],
    ["a proof with typ JWT", (key) => tokenProof(key, { header: { typ: "JWT" } }), "DPoP proof is invalid"],
    ["a proof without a jwk", (key) => tokenProof(key, { header: { jwk: undefined } }), "DPoP proof is invalid"],
    ["a proof without jti", (key) => tokenProof(key, { claims: { jti: undefined } }), "DPoP proof is invalid"],
    ["a proof with a forged signature", async (key) => `${(await tokenProof(key)).slice(0, -6)}AAAAAA`, "DPoP proof is invalid"],
    [
      "a proof signed with another key than its jwk",
      async (key) => tokenProof(await dpopKey(), { header: { jwk: key.publicJwk } }),
      "DPoP proof is invalid",
    ],
    ["not a JWT", async () => "not-a-proof", "DPoP proof is invalid"],
  ])("refuses %s with 400 invalid_dpop_proof", async (_label, build, description) => {
    const assertion = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    const tokens = await ledgerTokenIds("support-bot");
    expectBadProof(await postWithProof(clientCredentialsForm(assertion), await build(await dpopKey())), description);
    expect(await ledgerTokenIds("support-bot")).toEqual(tokens);
    await expectNotBurnt(assertion, before);
  });

  it("refuses an unsigned (alg none) proof and an HMAC one", async () => {
    const key = await dpopKey();
    const real = await tokenProof(key);
    const [, payload] = real.split(".");
    const header = (alg: string) => btoa(JSON.stringify({ typ: "dpop+jwt", alg, jwk: key.publicJwk })).replace(/=+$/, "");
    for (const forged of [`${header("none")}.${payload}.`, `${header("HS256")}.${payload}.c2lnbmF0dXJl`]) {
      const assertion = await assertionFor("support-bot");
      expectBadProof(await postWithProof(clientCredentialsForm(assertion), forged), /alg is not supported/);
    }
  });

  it("refuses two DPoP headers (RFC 9449 §4.3 point 1)", async () => {
    const key = await dpopKey();
    const assertion = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    const headers = new Headers(FORM);
    headers.append("DPoP", await tokenProof(key));
    headers.append("DPoP", await tokenProof(key));
    const request = new Request(TOKEN_ENDPOINT, { method: "POST", headers, body: clientCredentialsForm(assertion) });
    expectBadProof(await sendRawRequest(request), "send exactly one DPoP header");
    await expectNotBurnt(assertion, before);
  });

  it("refuses a replayed proof atomically: no second token, and the request's fresh assertion is not burnt either", async () => {
    const key = await dpopKey();
    const proof = await tokenProof(key);
    await boundPayload(await postWithProof(clientCredentialsForm(await assertionFor("support-bot")), proof));
    const assertion = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    const tokens = await ledgerTokenIds("support-bot");
    const replay = await postWithProof(clientCredentialsForm(assertion), proof);
    expectBadProof(replay, "DPoP proof already used: make a new proof (new jti) for each request");
    expect(replay.log).toMatchObject({ agent: "support-bot" });
    expect(await ledgerTokenIds("support-bot")).toEqual(tokens);
    await expectNotBurnt(assertion, before);
    // The agent's own next request, with a new proof, is served.
    await boundPayload(await postWithProof(clientCredentialsForm(await assertionFor("support-bot")), await tokenProof(key)));
  });

  it("issues exactly one token when one proof races in parallel requests, each with its own fresh assertion", async () => {
    const proof = await tokenProof(await dpopKey());
    const forms = await Promise.all(Array.from({ length: 6 }, async () => clientCredentialsForm(await assertionFor("support-bot"))));
    const tokens = await ledgerTokenIds("support-bot");
    const { result, lines } = await withRequestLog(() =>
      Promise.all(
        forms.map(async (form) => {
          const response = await exports.default.fetch(TOKEN_ENDPOINT, formPost(form, { DPoP: proof }));
          return { status: response.status, body: await response.json<Record<string, unknown>>() };
        }),
      ),
    );
    expect(lines).toHaveLength(forms.length);
    expect(result.map((r) => r.status).sort()).toEqual([200, 400, 400, 400, 400, 400]);
    for (const refused of result.filter((r) => r.status === 400))
      expect(refused.body).toEqual({
        error: "invalid_dpop_proof",
        error_description: "DPoP proof already used: make a new proof (new jti) for each request",
      });
    expect(await ledgerTokenIds("support-bot")).toHaveLength(tokens.length + 1);
  });

  it("refuses a proof replayed as another grant (token exchange after client_credentials)", async () => {
    const proof = await tokenProof(await dpopKey());
    await boundPayload(await postWithProof(clientCredentialsForm(await assertionFor("support-bot")), proof));
    expectBadProof(await postWithProof(tokenExchangeForm(await assertionFor("support-bot")), proof), /already used/);
  });
});

describe('a use case with "dpop": "required"', () => {
  const requireDpop = <T>(work: () => Promise<T>) => withUseCase(CUSTOMERS_READ, (u) => ({ ...u, dpop: "required" }), work);

  it("refuses a request without a proof with 400 invalid_request, spending nothing", async () => {
    await requireDpop(async () => {
      const assertion = await assertionFor("support-bot");
      const before = await ledgerJtis("support-bot");
      const tokens = await ledgerTokenIds("support-bot");
      expectRefusal(await postToken(clientCredentialsForm(assertion)), {
        status: 400,
        error: "invalid_request",
        reason: "dpop_required",
        description: `use case "${CUSTOMERS_READ}" requires a DPoP proof (RFC 9449): send a DPoP header`,
      });
      expect(await ledgerTokenIds("support-bot")).toEqual(tokens);
      expect(await ledgerJtis("support-bot")).toEqual(before);
      // The assertion was not spent: with a proof, the same one gets its token.
      await boundPayload(await postWithProof(clientCredentialsForm(assertion), await tokenProof(await dpopKey())));
    });
  });

  it("issues a bound token to a request with a proof", async () => {
    await requireDpop(async () => {
      const key = await dpopKey();
      const { payload } = await boundPayload(
        await postWithProof(clientCredentialsForm(await assertionFor("support-bot")), await tokenProof(key)),
      );
      expect(payload.cnf).toEqual({ jkt: key.jkt });
    });
  });
});

describe("CIBA: the collecting poll's proof binds the approved token", () => {
  const REFUND = { scope: "billing.invoices.refund", intent: "refund invoice INV-77 (duplicate charge)" };

  async function approved(intent: string): Promise<string> {
    const started = await startApproval("billing-agent", { ...REFUND, intent });
    expect(started.status).toBe(200);
    const { auth_req_id } = await started.json<{ auth_req_id: string }>();
    const approvalId = approvalIdOf(auth_req_id);
    await decideByMail(approvalId, "dana@example.com");
    await decideByMail(approvalId, "erin@example.com");
    await letTimePass(approvalId);
    return auth_req_id;
  }

  it("binds the token to the poll's key, and refuses the poll's proof replayed on the next poll", async () => {
    const key = await dpopKey();
    const authReqId = await approved("refund invoice INV-78");
    const proof = await tokenProof(key);
    const result = await postWithProof(await pollForm("billing-agent", authReqId), proof);
    const token = expectIssued(result);
    expect(result.body.token_type).toBe("DPoP");
    expect(decodeJwt(token).cnf).toEqual({ jkt: key.jkt });

    const again = await approved("refund invoice INV-79");
    const tokens = await ledgerTokenIds("billing-agent");
    expectBadProof(await postWithProof(await pollForm("billing-agent", again), proof), /already used/);
    expect(await ledgerTokenIds("billing-agent")).toEqual(tokens);
    // The refused poll did not consume the approval: a poll with a fresh proof collects it.
    await letTimePass(approvalIdOf(again));
    expectIssued(await postWithProof(await pollForm("billing-agent", again), await tokenProof(key)));
  });

  it("with DPoP required, refuses a poll without a proof and hands the approval back for a poll with one", async () => {
    await withUseCase(
      "billing.invoices.refund",
      (u) => ({ ...u, dpop: "required" }),
      async () => {
        const authReqId = await approved("refund invoice INV-80");
        const tokens = await ledgerTokenIds("billing-agent");
        const refused = await postToken(await pollForm("billing-agent", authReqId));
        expect({ status: refused.status, error: refused.body.error }).toEqual({ status: 400, error: "invalid_request" });
        expect(refused.log).toMatchObject({ reason: "dpop_required" });
        expect(await ledgerTokenIds("billing-agent")).toEqual(tokens);
        await letTimePass(approvalIdOf(authReqId));
        const key = await dpopKey();
        const { payload } = await boundPayload(await postWithProof(await pollForm("billing-agent", authReqId), await tokenProof(key)));
        expect(payload.cnf).toEqual({ jkt: key.jkt });
      },
    );
  });
});
