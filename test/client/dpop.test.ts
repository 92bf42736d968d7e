/** The agent SDK with DPoP (RFC 9449): bound tokens from the real broker, proofs a real verifier accepts. */
import { exports } from "cloudflare:workers";
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { type FetchLike, WritClient } from "../../client/index.ts";
import { createVerifier, WritVerifyError } from "../../verifier/index.ts";
import { type AgentId, agentPrivateJwk, ISSUER } from "../support/assertions.ts";
import { approvalIdOf, decideByMail, letTimePass } from "../support/ciba.ts";
import { CRM_API, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { brokerFetch } from "../support/requests.ts";

type Call = { url: string; headers: Headers };

function recordingFetch(): { fetch: FetchLike; calls: Call[] } {
  const calls: Call[] = [];
  const fetch: FetchLike = async (url, init) => {
    calls.push({ url, headers: new Headers(init.headers) });
    return exports.default.fetch(url, init);
  };
  return { fetch, calls };
}

function client(agentId: AgentId, fetch: FetchLike, dpop: ConstructorParameters<typeof WritClient>[0]["dpop"]): WritClient {
  return new WritClient({ issuer: ISSUER, agentId, key: agentPrivateJwk(agentId), fetch, dpop });
}

const crm = createVerifier({ issuer: ISSUER, audience: CRM_API, fetch: brokerFetch });
const URL_ = `${CRM_API}/customers?limit=10`;

describe("WritClient with dpop", () => {
  it("sends a proof for POST /token and gets a token bound to its own non-extractable key", async () => {
    const { fetch, calls } = recordingFetch();
    const writ = client("support-bot", fetch, true);
    const token = await writ.token({ useCase: CUSTOMERS_READ });
    expect(token.tokenType).toBe("DPoP");

    const tokenCall = calls.find((call) => new URL(call.url).pathname === "/token");
    const proof = tokenCall?.headers.get("dpop") ?? "";
    const header = decodeProtectedHeader(proof);
    expect(header).toMatchObject({ typ: "dpop+jwt", alg: "ES256" });
    expect(Object.keys(header.jwk ?? {}).sort()).toEqual(["crv", "kty", "x", "y"]);
    expect(decodeJwt(proof)).toMatchObject({ htm: "POST", htu: `${ISSUER}/token` });
    expect(decodeJwt(proof)).not.toHaveProperty("ath");
    expect(decodeJwt(token.accessToken).cnf).toEqual({ jkt: await calculateJwkThumbprint(header.jwk ?? {}, "sha256") });
  });

  it("presents the bound token with authHeaders: a fresh proof per call, which the service's verifier accepts once", async () => {
    const writ = client("support-bot", recordingFetch().fetch, true);
    const token = await writ.token({ useCase: CUSTOMERS_READ });
    const headers = await writ.authHeaders(token, { method: "GET", url: URL_ });
    expect(headers.authorization).toBe(`DPoP ${token.accessToken}`);
    expect(decodeJwt(headers.dpop ?? "")).toMatchObject({ htm: "GET", htu: `${CRM_API}/customers` });

    const request = () => new Request(URL_, { headers });
    await expect(crm.verifyRequest(request(), { scope: CUSTOMERS_READ })).resolves.toMatchObject({ agent: "support-bot" });
    // The same headers again are a replay; new ones are not.
    const replay = await crm.verifyRequest(request(), { scope: CUSTOMERS_READ }).catch((error: unknown) => error);
    expect(replay).toBeInstanceOf(WritVerifyError);
    expect((replay as WritVerifyError).code).toBe("ERR_WRIT_DPOP_PROOF_REPLAYED");
    const next = new Request(URL_, { headers: await writ.authHeaders(token, { method: "GET", url: URL_ }) });
    await expect(crm.verifyRequest(next, { scope: CUSTOMERS_READ })).resolves.toBeDefined();
    // A thief with the token alone, as Bearer, gets nothing.
    const stolen = new Request(URL_, { headers: { authorization: `Bearer ${token.accessToken}` } });
    await expect(crm.verifyRequest(stolen, { scope: CUSTOMERS_READ })).rejects.toMatchObject({ code: "ERR_WRIT_DPOP_REQUIRED" });
  });

  it("binds to a key pair the agent brings (Ed25519)", async () => {
    const pair = await generateKeyPair("Ed25519");
    const writ = client("support-bot", recordingFetch().fetch, { key: pair });
    const token = await writ.token({ useCase: CUSTOMERS_READ });
    const jkt = await calculateJwkThumbprint(await exportJWK(pair.publicKey), "sha256");
    expect(decodeJwt(token.accessToken).cnf).toEqual({ jkt });
    const proof = await writ.dpopProof("POST", `${CRM_API}/notes`, token.accessToken);
    expect(decodeProtectedHeader(proof)).toMatchObject({ alg: "EdDSA", typ: "dpop+jwt" });
  });

  it("binds a token that needed a human approval to the key of the poll that collects it", async () => {
    const { fetch } = recordingFetch();
    const writ = new WritClient({
      issuer: ISSUER,
      agentId: "billing-agent",
      key: agentPrivateJwk("billing-agent"),
      fetch,
      dpop: true,
      clock: { now: () => Date.now(), sleep: async () => {} },
    });
    const token = await writ.token({
      useCase: "billing.invoices.refund",
      intent: "refund invoice INV-91 (duplicate charge)",
      onPending: async ({ authReqId, polls }) => {
        if (polls > 0) return;
        const approvalId = approvalIdOf(authReqId);
        await decideByMail(approvalId, "dana@example.com");
        await decideByMail(approvalId, "erin@example.com");
        await letTimePass(approvalId);
      },
    });
    expect(token.tokenType).toBe("DPoP");
    const proof = await writ.dpopProof("GET", "https://billing.example.com/invoices", token.accessToken);
    expect(decodeJwt(token.accessToken).cnf).toEqual({
      jkt: await calculateJwkThumbprint(decodeProtectedHeader(proof).jwk ?? {}, "sha256"),
    });
  });
});

describe("WritClient without dpop", () => {
  it("gets Bearer tokens, sends no DPoP header, and refuses to make proofs", async () => {
    const { fetch, calls } = recordingFetch();
    const writ = client("support-bot", fetch, undefined);
    const token = await writ.token({ useCase: CUSTOMERS_READ });
    expect(token.tokenType).toBe("Bearer");
    expect(calls.every((call) => !call.headers.has("dpop"))).toBe(true);
    expect(await writ.authHeaders(token, { method: "GET", url: URL_ })).toEqual({ authorization: `Bearer ${token.accessToken}` });
    await expect(writ.dpopProof("GET", URL_)).rejects.toThrow(TypeError);
  });

  it("refuses a dpop option that is neither true nor { key }", () => {
    expect(() => client("support-bot", recordingFetch().fetch, "yes" as never)).toThrow(TypeError);
  });
});
