import { describe, expect, it } from "vitest";
import { checkTokenRequestProof, dpopLedgerJti } from "../../../core/dpop/token-request-proof.ts";
import { accessTokenClaims } from "../../../core/tokens/access-token-claims.ts";
import { accessTokenHash, dpopTarget, verifyDpopProof } from "../../../schemas/dpop.ts";
import { dpopKey, dpopProof } from "../../support/dpop-proofs.ts";
import { FROZEN_GRANT } from "../../support/grants.ts";

const TOKEN_ENDPOINT = "https://writ.example.com/token";

describe("verifyDpopProof (RFC 9449 §4.3)", () => {
  it("computes ath as in the RFC's example (§7.1)", async () => {
    expect(await accessTokenHash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")).toBe("fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
  });

  it("compares htu after normalisation, without query and fragment", () => {
    expect(dpopTarget("HTTPS://Writ.Example.com:443/token?x=1#f")).toBe(TOKEN_ENDPOINT);
    expect(dpopTarget("https://writ.example.com/a/../token")).toBe(TOKEN_ENDPOINT);
    expect(dpopTarget("https://writ.example.com/token/")).not.toBe(TOKEN_ENDPOINT);
    expect(dpopTarget("ftp://writ.example.com/token")).toBeUndefined();
    expect(dpopTarget("not a url")).toBeUndefined();
  });

  it("returns the key's thumbprint and the jti's retention for a good proof", async () => {
    const key = await dpopKey();
    const now = new Date();
    const proof = await dpopProof(key, { htu: `${TOKEN_ENDPOINT}?ignored`, claims: { jti: "p-1", iat: Math.floor(now.getTime() / 1000) } });
    const result = await verifyDpopProof(proof, { method: "POST", url: TOKEN_ENDPOINT, now });
    expect(result).toEqual({
      ok: true,
      value: { jkt: key.jkt, jti: "p-1", iat: Math.floor(now.getTime() / 1000), expiresAt: Math.floor(now.getTime() / 1000) + 90 },
    });
  });

  it("accepts iat within the window and refuses it just outside", async () => {
    const key = await dpopKey();
    const now = new Date("2026-11-27T12:00:00Z");
    const at = (offset: number) => dpopProof(key, { htu: TOKEN_ENDPOINT, claims: { iat: now.getTime() / 1000 + offset } });
    const check = async (offset: number) => (await verifyDpopProof(await at(offset), { method: "POST", url: TOKEN_ENDPOINT, now })).ok;
    expect(await check(-90)).toBe(true);
    expect(await check(-91)).toBe(false);
    expect(await check(30)).toBe(true);
    expect(await check(31)).toBe(false);
  });

  it("names as expiresAt the last second the proof is accepted in, to its last millisecond (what replay stores keep it for)", async () => {
    const key = await dpopKey();
    const iat = 1_800_000_000;
    const proof = await dpopProof(key, { htu: TOKEN_ENDPOINT, claims: { iat } });
    const at = (ms: number) => verifyDpopProof(proof, { method: "POST", url: TOKEN_ENDPOINT, now: new Date(ms) });
    const accepted = await at(iat * 1000);
    expect(accepted).toMatchObject({ ok: true, value: { expiresAt: iat + 90 } });
    const { expiresAt } = (accepted as { value: { expiresAt: number } }).value;
    expect((await at((expiresAt + 1) * 1000 - 1)).ok).toBe(true);
    expect(await at((expiresAt + 1) * 1000)).toMatchObject({ ok: false, failure: "stale" });
  });

  it("refuses an oversized proof before parsing it", async () => {
    expect(await verifyDpopProof("a".repeat(5000), { method: "POST", url: TOKEN_ENDPOINT, now: new Date() })).toMatchObject({
      ok: false,
      failure: "malformed",
    });
  });
});

describe("checkTokenRequestProof", () => {
  it("is no proof without a header, and a namespaced ledger jti with one", async () => {
    expect(await checkTokenRequestProof(null, TOKEN_ENDPOINT, new Date())).toEqual({ ok: true, value: undefined });
    const key = await dpopKey();
    const result = await checkTokenRequestProof(
      await dpopProof(key, { htu: TOKEN_ENDPOINT, claims: { jti: "j" } }),
      TOKEN_ENDPOINT,
      new Date(),
    );
    expect(result).toMatchObject({ ok: true, value: { jkt: key.jkt, use: { jti: dpopLedgerJti(key.jkt, "j") } } });
  });

  it("refuses two proofs joined in one header", async () => {
    const key = await dpopKey();
    const proof = await dpopProof(key, { htu: TOKEN_ENDPOINT });
    expect(await checkTokenRequestProof(`${proof}, ${proof}`, TOKEN_ENDPOINT, new Date())).toEqual({
      ok: false,
      reason: { code: "invalid_dpop_proof", failure: "several_headers" },
    });
  });
});

describe("accessTokenClaims with a DPoP key", () => {
  it("carries cnf.jkt only for a bound token", () => {
    const now = new Date("2026-11-27T12:00:00Z");
    expect(accessTokenClaims(FROZEN_GRANT, "https://writ.example.com", now, "t-1", undefined, "jkt-1").cnf).toEqual({ jkt: "jkt-1" });
    expect(accessTokenClaims(FROZEN_GRANT, "https://writ.example.com", now, "t-2")).not.toHaveProperty("cnf");
  });
});
