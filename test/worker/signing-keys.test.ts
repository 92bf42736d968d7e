import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { rotateKeySet } from "../../core/keys/rotate-key-set.ts";
import { generateSigningKey } from "../../lib/generate-signing-key.ts";
import { readConfig } from "../../worker/config.ts";
import { activeKeys } from "../../worker/tokens/signing-keys.ts";
import { brokerGet } from "../support/requests.ts";

describe("signing keys", () => {
  it("publishes only public members, with kid, alg and use, and a short cache lifetime", async () => {
    const res = await brokerGet("/.well-known/jwks.json");
    expect(res.headers.get("cache-control")).toBe("public, max-age=60");
    const { keys } = await res.json<{ keys: Record<string, string>[] }>();
    expect(keys).toHaveLength(1);
    expect(Object.keys(keys[0] ?? {}).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);
    expect(keys[0]).toMatchObject({ alg: "ES256", use: "sig" });
  });

  it("keeps the generated development key across Durable Object eviction", async () => {
    const stub = env.DEV_SIGNING_KEY.getByName("dev");
    const before = await stub.keySet("ES256");
    await evictDurableObject(stub);
    expect(await stub.keySet("ES256")).toEqual(before);
  });

  it("signs with the current key of SIGNING_KEYS and publishes next, current and previous", async () => {
    const first = { keys: [await generateSigningKey("ES256", "current")] };
    const withNext = (await rotateKeySet(first, "EdDSA")).set;
    const promoted = (await rotateKeySet(withNext, "ES256")).set;
    const secretEnv = { ...env, SIGNING_KEYS: JSON.stringify((await rotateKeySet(promoted, "ES256")).set) };
    const keys = await activeKeys(secretEnv, readConfig(env));
    expect(keys.publicKeys.map((k) => k.kid)).toEqual([...promoted.keys.map((k) => k.kid), expect.any(String)]);
    expect(keys.publicKeys.every((k) => !("d" in k))).toBe(true);
    // The EdDSA key added as "next" now signs.
    expect(keys.signer.alg).toBe("EdDSA");
  });

  it("keeps tokens signed by the previous key verifiable through a rotation", async () => {
    const { SignJWT } = await import("jose");
    const start = { keys: [await generateSigningKey("ES256", "current")] };
    const before = await activeKeys({ ...env, SIGNING_KEYS: JSON.stringify(start) }, readConfig(env));
    const oldToken = await new SignJWT({ sub: "a" })
      .setProtectedHeader({ alg: "ES256", kid: before.signer.kid, typ: "at+jwt" })
      .sign(before.signer.key);
    const afterSet = (await rotateKeySet((await rotateKeySet(start, "ES256")).set, "ES256")).set;
    const after = await activeKeys({ ...env, SIGNING_KEYS: JSON.stringify(afterSet) }, readConfig(env));
    expect(after.signer.kid).not.toBe(before.signer.kid);
    const jwks = createLocalJWKSet({ keys: after.publicKeys });
    await expect(jwtVerify(oldToken, jwks, { typ: "at+jwt" })).resolves.toBeDefined();
    expect(decodeProtectedHeader(oldToken).kid).toBe(before.signer.kid);
  });

  it("refuses to start without SIGNING_KEYS unless the dev key is allowed", async () => {
    const production = { ...env, DEV_SIGNING_KEY_ALLOWED: "false" };
    await expect(activeKeys(production, readConfig(production))).rejects.toThrow(/no SIGNING_KEYS secret/);
  });

  it("refuses a malformed SIGNING_KEYS secret loudly, naming the problem", async () => {
    const twoCurrent = { keys: [await generateSigningKey("ES256", "current"), await generateSigningKey("ES256", "current")] };
    await expect(activeKeys({ ...env, SIGNING_KEYS: JSON.stringify(twoCurrent) }, readConfig(env))).rejects.toThrow(/exactly one key/);
    await expect(activeKeys({ ...env, SIGNING_KEYS: "not json" }, readConfig(env))).rejects.toThrow(/not JSON/);
  });
});
