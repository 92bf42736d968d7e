// Test keys and token forgery for the verifier tests: everything an attacker (or a broken issuer) could send.
import { base64url, type CryptoKey, exportJWK, generateKeyPair, type JSONWebKeySet, type JWK, SignJWT } from "jose";
import type { JwksFetch } from "../../verifier/index.ts";

export const ISSUER = "http://127.0.0.1:8787";
export const AUDIENCE = "https://crm.example.com";
export const USE_CASE = "crm.customers.read";
export const CUSTOMERS_TABLE = "https://crm.example.com/tables/customers";

export type TestKey = { kid: string; alg: string; privateKey: CryptoKey; publicJwk: JWK };

export async function testKey(kid: string, alg: "ES256" | "EdDSA" | "RS256" = "ES256"): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

export function jwksOf(...keys: TestKey[]): JSONWebKeySet {
  return { keys: keys.map((key) => key.publicJwk) };
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** The claims the broker issues for crm.customers.read; an `undefined` override removes the claim. */
export function accessClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = nowSeconds();
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    sub: "support-bot",
    aud: AUDIENCE,
    client_id: "support-bot",
    iat,
    nbf: iat,
    exp: iat + 300,
    jti: crypto.randomUUID(),
    scope: USE_CASE,
    authorization_details: [
      { type: "agent_use_case", use_case: USE_CASE, actions: ["read"], locations: [CUSTOMERS_TABLE], limits: { max_rows: 100 } },
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

const encodeJson = (value: unknown): string => base64url.encode(JSON.stringify(value));

/** `alg: none`: no signature at all (RFC 7519 §6 "unsecured JWT"). */
export function unsecuredToken(kid: string, claims: Record<string, unknown> = accessClaims()): string {
  return `${encodeJson({ alg: "none", typ: "at+jwt", kid })}.${encodeJson(claims)}.`;
}

/**
 * ES256 over arbitrary header and payload bytes, bypassing jose's producer checks, for tokens jose would refuse to
 * build (unknown `crit`, a payload that is not JSON). WebCrypto's ECDSA output is already JWS's r||s form.
 */
export async function signRawEs256(key: TestKey, header: Record<string, unknown>, payload: string): Promise<string> {
  const input = `${encodeJson(header)}.${base64url.encode(payload)}`;
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, new TextEncoder().encode(input));
  return `${input}.${base64url.encode(new Uint8Array(signature))}`;
}

/** Replaces the payload of a signed token and keeps its signature. */
export function withPayload(token: string, claims: Record<string, unknown>): string {
  const [header, , signature] = token.split(".");
  return `${header}.${encodeJson(claims)}.${signature}`;
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
