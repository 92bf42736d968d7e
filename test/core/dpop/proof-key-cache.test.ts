// verifyDpopProof remembers imported proof keys, their thumbprints and token hashes between calls (schemas/dpop.ts).
// These pin that a remembered entry never stands in for a check: each proof is still judged on its own bytes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DPOP_CACHE_ENTRIES, type DpopProofExpectations, verifyDpopProof } from "../../../schemas/dpop.ts";
import { type DpopKey, dpopKey, dpopProof } from "../../support/dpop-proofs.ts";

const URL_ = "https://crm.example.com/customers";
const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";

const expectations = (overrides: Partial<DpopProofExpectations> = {}): DpopProofExpectations => ({
  method: "GET",
  url: URL_,
  now: new Date(),
  accessToken: TOKEN,
  ...overrides,
});

/** A proof whose header (and so `jwk`) is `shown`'s but whose signature is `signer`'s. */
const proofShowing = (shown: DpopKey, signer: DpopKey, accessToken = TOKEN) =>
  dpopProof(signer, { htm: "GET", htu: URL_, accessToken, header: { jwk: shown.publicJwk } });

describe("verifyDpopProof with a remembered proof key", () => {
  it("refuses a proof that shows a remembered key but is signed by another, and still accepts the key's own", async () => {
    const [agent, thief] = [await dpopKey(), await dpopKey()];
    expect(await verifyDpopProof(await proofShowing(agent, agent), expectations())).toMatchObject({ ok: true, value: { jkt: agent.jkt } });
    expect(await verifyDpopProof(await proofShowing(agent, thief), expectations())).toEqual({ ok: false, failure: "signature_invalid" });
    expect(await verifyDpopProof(await proofShowing(agent, agent), expectations())).toMatchObject({ ok: true, value: { jkt: agent.jkt } });
  });

  it("refuses a remembered key's proof with a signature cut short or changed", async () => {
    const agent = await dpopKey();
    const good = await proofShowing(agent, agent);
    expect((await verifyDpopProof(good, expectations())).ok).toBe(true);
    const [head, payload, signature] = good.split(".") as [string, string, string];
    const flipped = `${head}.${payload}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    expect(await verifyDpopProof(flipped, expectations())).toEqual({ ok: false, failure: "signature_invalid" });
    expect(await verifyDpopProof(`${head}.${payload}.`, expectations())).toMatchObject({ ok: false });
  });

  it("checks the algorithms of each call, not of the call that first saw the key", async () => {
    const agent = await dpopKey();
    expect((await verifyDpopProof(await proofShowing(agent, agent), expectations())).ok).toBe(true);
    expect(await verifyDpopProof(await proofShowing(agent, agent), expectations({ algorithms: ["EdDSA"] }))).toEqual({
      ok: false,
      failure: "algorithm_not_allowed",
      detail: "alg ES256",
    });
  });

  it("checks ath and the bound key of each call against a remembered token hash and thumbprint", async () => {
    const [agent, other] = [await dpopKey(), await dpopKey()];
    expect((await verifyDpopProof(await proofShowing(agent, agent), expectations({ jkt: agent.jkt }))).ok).toBe(true);
    // The same key and token again: now from the caches, and the answers must not change.
    expect(await verifyDpopProof(await proofShowing(agent, agent), expectations({ jkt: other.jkt }))).toEqual({
      ok: false,
      failure: "key_mismatch",
    });
    expect(await verifyDpopProof(await proofShowing(agent, agent), expectations({ accessToken: `${TOKEN}x` }))).toEqual({
      ok: false,
      failure: "ath_mismatch",
    });
    expect(await verifyDpopProof(await proofShowing(agent, agent, `${TOKEN}x`), expectations())).toEqual({
      ok: false,
      failure: "ath_mismatch",
    });
  });

  it("still refuses a private jwk once its public half is remembered", async () => {
    const agent = await dpopKey();
    expect((await verifyDpopProof(await proofShowing(agent, agent), expectations())).ok).toBe(true);
    const leaked = await dpopProof(agent, { htm: "GET", htu: URL_, accessToken: TOKEN, header: { jwk: agent.privateJwk } });
    expect(await verifyDpopProof(leaked, expectations())).toEqual({ ok: false, failure: "jwk_private" });
  });

  it("answers every key's own thumbprint when more keys than the cache holds take turns", async () => {
    const keys = await Promise.all(Array.from({ length: DPOP_CACHE_ENTRIES + 8 }, () => dpopKey()));
    const proofs = await Promise.all(keys.map((key) => proofShowing(key, key)));
    // Twice round: the second pass finds the first keys evicted and the last ones remembered.
    for (const pass of [0, 1])
      for (const [i, proof] of proofs.entries())
        expect([pass, await verifyDpopProof(proof, expectations({ jkt: keys[i]?.jkt }))]).toMatchObject([pass, { ok: true }]);
  }, 60_000);

  it("accepts a proof exactly when the key it shows signed it, whatever the cache holds (property)", async () => {
    const keys = await Promise.all([dpopKey(), dpopKey(), dpopKey(), dpopKey("EdDSA")]);
    const pairs = fc.array(fc.tuple(fc.nat(keys.length - 1), fc.nat(keys.length - 1), fc.boolean()), { minLength: 1, maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(pairs, async (calls) => {
        for (const [shownAt, signerAt, sameToken] of calls) {
          const [shown, signer] = [keys[shownAt] as DpopKey, keys[signerAt] as DpopKey];
          // A key of another type than the header's alg is no proof either (EdDSA header, ES256 signer and back).
          const proof = await dpopProof(signer, {
            htm: "GET",
            htu: URL_,
            accessToken: sameToken ? TOKEN : `${TOKEN}x`,
            header: { jwk: shown.publicJwk, alg: signer.alg },
          });
          const result = await verifyDpopProof(proof, expectations());
          if (shownAt === signerAt && sameToken) expect(result).toMatchObject({ ok: true, value: { jkt: shown.jkt } });
          else if (shownAt === signerAt) expect(result).toEqual({ ok: false, failure: "ath_mismatch" });
          else expect(result.ok).toBe(false);
        }
      }),
      { numRuns: 25 },
    );
  });
});
