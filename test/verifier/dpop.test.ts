import { Hono } from "hono";
import { beforeAll, describe, expect, it } from "vitest";
import { writAuth } from "../../verifier/hono.ts";
import {
  bearerRefusal,
  createVerifier,
  DPOP_ALGORITHMS,
  type DpopReplayStore,
  memoryDpopReplayStore,
  type Verifier,
  WritVerifyError,
  type WritVerifyErrorCode,
} from "../../verifier/index.ts";
import { jwksOf, signToken, type TestKey, testKey } from "../support/access-tokens.ts";
import { ISSUER } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { type DpopKey, dpopKey, dpopProof } from "../support/dpop-proofs.ts";
import { rejectionOf } from "../support/rejection.ts";

const URL_ = `${CRM_API}/customers`;
const ALGS = DPOP_ALGORITHMS.join(" ");

let issuerKey: TestKey;
let agentKey: DpopKey;
let otherKey: DpopKey;

beforeAll(async () => {
  issuerKey = await testKey("writ-1");
  agentKey = await dpopKey();
  otherKey = await dpopKey();
});

/** A replay store that records what the verifier asked it, over the real in-memory one. */
function recordingStore(inner: DpopReplayStore = memoryDpopReplayStore()) {
  const keys: string[] = [];
  const store: DpopReplayStore = {
    useOnce(key, expiresAt) {
      keys.push(key);
      return inner.useOnce(key, expiresAt);
    },
  };
  return { store, keys };
}

function verifierWith(dpop: Parameters<typeof createVerifier>[0]["dpop"] = {}): Verifier {
  return createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(issuerKey), dpop });
}

const boundToken = (key: DpopKey = agentKey) => signToken(issuerKey, { claims: { cnf: { jkt: key.jkt } } });

function dpopRequest(token: string, proofs: string | string[] | undefined, init: { method?: string; url?: string } = {}): Request {
  const headers = new Headers({ Authorization: `DPoP ${token}` });
  for (const proof of proofs === undefined ? [] : typeof proofs === "string" ? [proofs] : proofs) headers.append("DPoP", proof);
  return new Request(init.url ?? URL_, { method: init.method ?? "GET", headers });
}

async function refused(verifier: Verifier, request: Request, code: WritVerifyErrorCode): Promise<WritVerifyError> {
  const error = await rejectionOf(verifier.verifyRequest(request, { scope: CUSTOMERS_READ }), WritVerifyError);
  expect(error.code).toBe(code);
  return error;
}

describe("verifyRequest: DPoP-bound tokens (RFC 9449 §7)", () => {
  it("accepts a bound token with a proof for this request, and records the proof's jti under its key", async () => {
    const { store, keys } = recordingStore();
    const verifier = verifierWith({ replayStore: store });
    const token = await boundToken();
    const proof = await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: token, claims: { jti: "proof-1" } });
    const grant = await verifier.verifyRequest(dpopRequest(token, proof), { scope: CUSTOMERS_READ });
    expect(grant.claims.cnf).toEqual({ jkt: agentKey.jkt });
    expect(keys).toEqual([`${agentKey.jkt}:proof-1`]);
  });

  it("ignores the query and fragment when comparing htu, and accepts the scheme in any case", async () => {
    const verifier = verifierWith();
    const token = await boundToken();
    const proof = await dpopProof(agentKey, { htm: "GET", htu: `${URL_}?limit=5`, accessToken: token });
    const request = new Request(`${URL_}?limit=10`, { headers: { Authorization: `dpop ${token}`, DPoP: proof } });
    await expect(verifier.verifyRequest(request, { scope: CUSTOMERS_READ })).resolves.toMatchObject({ agent: "support-bot" });
  });

  it("checks htu against the public URL the service names (behind a proxy)", async () => {
    const verifier = verifierWith();
    const token = await boundToken();
    const proof = await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: token });
    const internal = dpopRequest(token, proof, { url: "http://10.0.0.7:8080/customers" });
    await expect(verifier.verifyRequest(internal, { scope: CUSTOMERS_READ, url: URL_ })).resolves.toMatchObject({ agent: "support-bot" });
  });

  it("still accepts an unbound token as Bearer, and verify() keeps working for Bearer tokens", async () => {
    const verifier = verifierWith();
    const token = await signToken(issuerKey);
    const request = new Request(URL_, { headers: { Authorization: `Bearer ${token}` } });
    await expect(verifier.verifyRequest(request, { scope: CUSTOMERS_READ })).resolves.toMatchObject({ agent: "support-bot" });
    await expect(verifier.verify(token, { scope: CUSTOMERS_READ })).resolves.toMatchObject({ agent: "support-bot" });
  });

  it("accepts a proof through verify() with the dpop option, for services that do not have a Request", async () => {
    const verifier = verifierWith();
    const token = await boundToken();
    const proof = await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: token });
    await expect(verifier.verify(token, { scope: CUSTOMERS_READ, dpop: { proof, method: "GET", url: URL_ } })).resolves.toBeDefined();
  });
});

describe("verifyRequest: what a thief or a replayer sends", () => {
  it.each<[string, (token: string) => Promise<Request>, WritVerifyErrorCode]>([
    [
      "a bound token as Bearer (stolen without its key)",
      async (t) => new Request(URL_, { headers: { Authorization: `Bearer ${t}` } }),
      "ERR_WRIT_DPOP_REQUIRED",
    ],
    ["a bound token with scheme DPoP and no proof", async (t) => dpopRequest(t, undefined), "ERR_WRIT_DPOP_PROOF_INVALID"],
    [
      "two DPoP headers",
      async (t) =>
        dpopRequest(t, [
          await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: t }),
          await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: t }),
        ]),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    [
      "a proof for another URL",
      async (t) => dpopRequest(t, await dpopProof(agentKey, { htm: "GET", htu: `${CRM_API}/invoices`, accessToken: t })),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    [
      "a proof for another host",
      async (t) => dpopRequest(t, await dpopProof(agentKey, { htm: "GET", htu: "https://evil.example/customers", accessToken: t })),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    [
      "a proof for another method",
      async (t) => dpopRequest(t, await dpopProof(agentKey, { htm: "POST", htu: URL_, accessToken: t })),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    [
      "a proof with a lower-case method",
      async (t) => dpopRequest(t, await dpopProof(agentKey, { htm: "get", htu: URL_, accessToken: t })),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    [
      "a stale proof (iat 2 minutes ago)",
      async (t) =>
        dpopRequest(
          t,
          await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: t, claims: { iat: Math.floor(Date.now() / 1000) - 120 } }),
        ),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    [
      "a proof dated in the future",
      async (t) =>
        dpopRequest(
          t,
          await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: t, claims: { iat: Math.floor(Date.now() / 1000) + 120 } }),
        ),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    [
      "a proof signed by another key than cnf.jkt",
      async (t) => dpopRequest(t, await dpopProof(otherKey, { htm: "GET", htu: URL_, accessToken: t })),
      "ERR_WRIT_DPOP_BINDING_MISMATCH",
    ],
    [
      "a proof without ath",
      async (t) => dpopRequest(t, await dpopProof(agentKey, { htm: "GET", htu: URL_ })),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    [
      "a proof whose ath is another token's",
      async (t) => dpopRequest(t, await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: `${t}x` })),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    [
      "a proof carrying its private key in the jwk header",
      async (t) =>
        dpopRequest(t, await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: t, header: { jwk: agentKey.privateJwk } })),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    [
      "a proof with typ JWT",
      async (t) => dpopRequest(t, await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: t, header: { typ: "JWT" } })),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    [
      "a proof without jti",
      async (t) => dpopRequest(t, await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: t, claims: { jti: undefined } })),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    [
      "a proof with a bad signature",
      async (t) => dpopRequest(t, `${(await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: t })).slice(0, -4)}AAAA`),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    ],
    ["an access token as the proof", async (t) => dpopRequest(t, t), "ERR_WRIT_DPOP_PROOF_INVALID"],
  ])("refuses %s, and records nothing", async (_label, build, code) => {
    const { store, keys } = recordingStore();
    const verifier = verifierWith({ replayStore: store });
    await refused(verifier, await build(await boundToken()), code);
    expect(keys).toEqual([]);
  });

  it("refuses a replayed proof (the same request sent twice)", async () => {
    const verifier = verifierWith();
    const token = await boundToken();
    const proof = await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: token });
    await verifier.verifyRequest(dpopRequest(token, proof), { scope: CUSTOMERS_READ });
    const error = await refused(verifier, dpopRequest(token, proof), "ERR_WRIT_DPOP_PROOF_REPLAYED");
    expect(error.scheme).toBe("DPoP");
  });

  it("refuses an unbound token sent with scheme DPoP and a valid-looking proof", async () => {
    const token = await signToken(issuerKey);
    await refused(
      verifierWith(),
      dpopRequest(token, await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: token })),
      "ERR_WRIT_DPOP_BINDING_MISMATCH",
    );
  });

  it("refuses a bound token through verify() without a proof", async () => {
    const error = await rejectionOf(verifierWith().verify(await boundToken(), { scope: CUSTOMERS_READ }), WritVerifyError);
    expect(error.code).toBe("ERR_WRIT_DPOP_REQUIRED");
  });

  it("with dpop.required, refuses an unbound token as Bearer", async () => {
    const token = await signToken(issuerKey);
    await refused(
      verifierWith({ required: true }),
      new Request(URL_, { headers: { Authorization: `Bearer ${token}` } }),
      "ERR_WRIT_DPOP_REQUIRED",
    );
  });

  it("refuses the proof as unverifiable (not accepted) when the replay store fails", async () => {
    const verifier = verifierWith({ replayStore: { useOnce: () => Promise.reject(new Error("store down")) } });
    const token = await boundToken();
    await refused(
      verifier,
      dpopRequest(token, await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: token })),
      "ERR_WRIT_DPOP_REPLAY_UNAVAILABLE",
    );
  });

  it("refuses a proof algorithm the service excluded", async () => {
    const ed = await dpopKey("EdDSA");
    const verifier = verifierWith({ algorithms: ["ES256"] });
    const token = await boundToken(ed);
    await refused(
      verifier,
      dpopRequest(token, await dpopProof(ed, { htm: "GET", htu: URL_, accessToken: token })),
      "ERR_WRIT_DPOP_PROOF_INVALID",
    );
    await expect(
      verifierWith().verifyRequest(dpopRequest(token, await dpopProof(ed, { htm: "GET", htu: URL_, accessToken: token }))),
    ).resolves.toBeDefined();
  });
});

describe("memoryDpopReplayStore", () => {
  it("answers true once per key until it expires, then forgets it", async () => {
    let now = 1_000_000;
    const store = memoryDpopReplayStore({ now: () => now });
    expect(await store.useOnce("k", now + 90_000)).toBe(true);
    expect(await store.useOnce("k", now + 90_000)).toBe(false);
    now += 90_001;
    expect(await store.useOnce("k", now + 90_000)).toBe(true);
  });

  it("refuses new entries when full of unexpired ones instead of forgetting one early", async () => {
    let now = 0;
    const store = memoryDpopReplayStore({ capacity: 2, now: () => now });
    await store.useOnce("a", 100);
    await store.useOnce("b", 100);
    await expect(store.useOnce("c", 100)).rejects.toThrow(/full/);
    expect(await store.useOnce("a", 100)).toBe(false);
    now = 101;
    expect(await store.useOnce("c", 200)).toBe(true);
  });
});

describe("writAuth with DPoP: the wire answers (RFC 9449 §7.1)", () => {
  function app(verifier: Verifier) {
    const refusals: string[] = [];
    const hono = new Hono();
    hono.get("/customers", writAuth({ verifier, scope: CUSTOMERS_READ, onRefusal: (e) => void refusals.push(e.code) }), (c) =>
      c.json({ agent: c.var.writ.agent }),
    );
    return { hono, refusals };
  }

  it("lets a bound token with its proof through", async () => {
    const { hono } = app(verifierWith());
    const token = await boundToken();
    const res = await hono.request(dpopRequest(token, await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: token })));
    expect(res.status).toBe(200);
  });

  it("answers a replayed proof with 401 and the error on the DPoP challenge", async () => {
    const { hono, refusals } = app(verifierWith());
    const token = await boundToken();
    const proof = await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: token });
    expect((await hono.request(dpopRequest(token, proof))).status).toBe(200);
    const res = await hono.request(dpopRequest(token, proof));
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe(
      `Bearer realm="${CRM_API}", DPoP realm="${CRM_API}", algs="${ALGS}", error="invalid_dpop_proof", error_description="the DPoP proof was already used"`,
    );
    expect(await res.json()).toEqual({ error: "invalid_dpop_proof", error_description: "the DPoP proof was already used" });
    expect(refusals).toEqual(["ERR_WRIT_DPOP_PROOF_REPLAYED"]);
  });

  it("answers a bound token sent as Bearer with 401 invalid_token on the DPoP challenge", async () => {
    const { hono } = app(verifierWith());
    const res = await hono.request(new Request(URL_, { headers: { Authorization: `Bearer ${await boundToken()}` } }));
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe(
      `Bearer realm="${CRM_API}", DPoP realm="${CRM_API}", algs="${ALGS}", error="invalid_token", error_description="a DPoP-bound access token is required, sent as Authorization: DPoP with a DPoP proof"`,
    );
  });

  it("answers a proof signed by another key with 401 invalid_token (key binding)", async () => {
    const { hono } = app(verifierWith());
    const token = await boundToken();
    const res = await hono.request(dpopRequest(token, await dpopProof(otherKey, { htm: "GET", htu: URL_, accessToken: token })));
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      error: "invalid_token",
      error_description: "the access token is not bound to the key of the DPoP proof",
    });
  });

  it("offers only the DPoP challenge when the service requires DPoP", async () => {
    const { hono } = app(verifierWith({ required: true }));
    const res = await hono.request(URL_);
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe(`DPoP realm="${CRM_API}", algs="${ALGS}"`);
  });

  it("answers 503 with Retry-After and no challenge when the replay store is down", async () => {
    const { hono } = app(verifierWith({ replayStore: { useOnce: () => Promise.reject(new Error("down")) } }));
    const token = await boundToken();
    const res = await hono.request(dpopRequest(token, await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: token })));
    expect(res.status).toBe(503);
    expect(res.headers.get("WWW-Authenticate")).toBeNull();
    expect(res.headers.get("Retry-After")).toBe("5");
  });
});

describe("bearerRefusal: resource_metadata (RFC 9728 §5.1)", () => {
  const metadata = `${CRM_API}/.well-known/oauth-protected-resource`;

  it("names the resource metadata on a bare challenge", () => {
    const refusal = bearerRefusal(new WritVerifyError("ERR_WRIT_TOKEN_MISSING", "none"), { realm: CRM_API, resourceMetadata: metadata });
    expect(refusal.headers["WWW-Authenticate"]).toBe(`Bearer realm="${CRM_API}", resource_metadata="${metadata}"`);
  });

  it("names it on both challenges when DPoP is offered, with the error on the scheme used", () => {
    const error = new WritVerifyError("ERR_WRIT_EXPIRED", "expired");
    error.scheme = "DPoP";
    const refusal = bearerRefusal(error, { realm: CRM_API, resourceMetadata: metadata, dpop: { required: false, algorithms: ["ES256"] } });
    expect(refusal.headers["WWW-Authenticate"]).toBe(
      `Bearer realm="${CRM_API}", resource_metadata="${metadata}", DPoP realm="${CRM_API}", algs="ES256", error="invalid_token", error_description="the access token has expired", resource_metadata="${metadata}"`,
    );
  });

  it("refuses a resource metadata URL that would break out of its quotes", () => {
    expect(() =>
      bearerRefusal(new WritVerifyError("ERR_WRIT_TOKEN_MISSING", "none"), { realm: CRM_API, resourceMetadata: 'https://x/"' }),
    ).toThrow(TypeError);
  });
});
