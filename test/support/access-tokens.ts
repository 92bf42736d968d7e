// Test keys and access tokens for the verifier tests: everything an attacker (or a broken issuer) could send.
import { type CryptoKey, exportJWK, generateKeyPair, type JSONWebKeySet, type JWK, SignJWT } from "jose";
import type { JwksFetch } from "../../verifier/index.ts";
import { ISSUER, nowSeconds } from "./assertions.ts";
import { CRM_API, CUSTOMERS_READ, CUSTOMERS_TABLE } from "./demo-policy.ts";
import { handmadeJwt, signEs256ByHand } from "./jws.ts";

export type TestKey = { kid: string; alg: string; privateKey: CryptoKey; publicJwk: JWK };

export async function testKey(kid: string, alg: "ES256" | "EdDSA" | "RS256" = "ES256"): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

export function jwksOf(...keys: TestKey[]): JSONWebKeySet {
  return { keys: keys.map((key) => key.publicJwk) };
}

/** The claims the broker issues for crm.customers.read; an `undefined` override removes the claim. */
export function accessClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = nowSeconds();
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    sub: "support-bot",
    aud: CRM_API,
    client_id: "support-bot",
    iat,
    nbf: iat,
    exp: iat + 300,
    jti: crypto.randomUUID(),
    scope: CUSTOMERS_READ,
    authorization_details: [
      { type: "agent_use_case", use_case: CUSTOMERS_READ, actions: ["read"], locations: [CUSTOMERS_TABLE], limits: { max_rows: 100 } },
    ],
    ...overrides,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return claims;
}

/** A token signed like the broker signs (`typ: at+jwt`, the key's alg and kid); `header` overrides, `undefined` removes. */
export function signToken(
  key: TestKey,
  options: { claims?: Record<string, unknown>; header?: Record<string, unknown> } = {},
): Promise<string> {
  const header: Record<string, unknown> = { alg: key.alg, kid: key.kid, typ: "at+jwt", ...options.header };
  for (const [name, value] of Object.entries(header)) if (value === undefined) delete header[name];
  return new SignJWT(accessClaims(options.claims)).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}

/** `alg: none`: no signature at all (RFC 7519 §6 "unsecured JWT"). */
export function unsecuredToken(kid: string, claims: Record<string, unknown> = accessClaims()): string {
  return handmadeJwt({ alg: "none", typ: "at+jwt", kid }, claims);
}

/** ES256 with the test key over any header and payload, for tokens jose would refuse to build. */
export function signRawEs256(key: TestKey, header: Record<string, unknown>, payload: string): Promise<string> {
  return signEs256ByHand(key.privateKey, header, payload);
}

/** A key resolver with a bug in it: what it throws is not a refusal, and must not be reported as one. */
export async function brokenKeyResolver(): Promise<never> {
  throw new RangeError("resolver bug");
}

/** A JWKS endpoint double that counts its requests and can publish new keys (rotation). */
export function jwksEndpoint(...keys: TestKey[]) {
  let published = keys;
  const requests: string[] = [];
  let failWith: Response | Error | undefined;
  const fetch: JwksFetch = async (url) => {
    requests.push(url);
    if (failWith instanceof Error) throw failWith;
    if (failWith) return failWith.clone();
    return Response.json(jwksOf(...published), { headers: { "Content-Type": "application/jwk-set+json" } });
  };
  return {
    fetch,
    requests,
    publish(...next: TestKey[]) {
      published = next;
    },
    fail(next: Response | Error | undefined) {
      failWith = next;
    },
  };
}
