/**
 * Identity proofs an attacker can build without an agent's private key, or with a genuine signature over claims
 * that must not pass. Each one is sent both as a client_assertion and as a subject_token: the two carry the same
 * JWT profile (RFC 7523 §3) and must refuse the same forgeries.
 */
import { base64url, exportJWK, exportSPKI, generateKeyPair, importJWK, SignJWT } from "jose";
import type { IdentityFailure } from "../../core/refusals.ts";
import {
  type AgentId,
  agentPublicJwk,
  agentSigningKey,
  assertionClaims,
  assertionFor,
  ISSUER,
  nowSeconds,
  signWithAgentKey,
} from "./assertions.ts";
import { handmadeJwt, signEs256ByHand } from "./jws.ts";

export type Forgery = {
  /** Completes "rejects …". */
  name: string;
  /** The agent the forgery claims to be (whose ledger must stay untouched). */
  agentId: AgentId;
  /** The internal reason the log must show. */
  failure: IdentityFailure;
  make: () => Promise<string>;
};

/** HS256 keyed with the public key: the classic algorithm-confusion attack on verifiers that pick the algorithm from the header. */
async function hmacWithPublicKey(agentId: AgentId, secret: (publicKey: CryptoKey) => Promise<Uint8Array>): Promise<string> {
  const jwk = agentPublicJwk(agentId);
  const publicKey = await importJWK(jwk, "ES256", { extractable: true });
  if (!(publicKey instanceof CryptoKey)) throw new TypeError("expected a CryptoKey");
  return new SignJWT(assertionClaims(agentId)).setProtectedHeader({ alg: "HS256", kid: jwk.kid as string }).sign(await secret(publicKey));
}

/** Signed by a key the attacker generated, under a header of the attacker's choosing. */
export async function signWithAttackerKey(
  alg: "ES256" | "EdDSA" | "Ed25519" | "RS256",
  agentId: string,
  header: Record<string, unknown>,
  claims = assertionClaims(agentId),
): Promise<string> {
  const { privateKey } = await generateKeyPair(alg === "Ed25519" ? "EdDSA" : alg);
  return new SignJWT(claims).setProtectedHeader({ alg, ...header }).sign(privateKey);
}

/** Well-formed claims under any header at all, with a genuine ES256 signature of the agent (WebCrypto, not jose). */
export async function handSignedAssertion(agentId: AgentId, header: Record<string, unknown>): Promise<string> {
  return signEs256ByHand((await agentSigningKey(agentId)).key, header, JSON.stringify(assertionClaims(agentId)));
}

const textBytes = (text: string) => new TextEncoder().encode(text);

export const FORGERIES: Forgery[] = [
  // Algorithm attacks: the header must not choose how the broker verifies.
  {
    name: "an unsigned assertion (alg none)",
    agentId: "support-bot",
    failure: "algorithm_not_allowed",
    make: async () => handmadeJwt({ alg: "none", typ: "JWT" }, assertionClaims("support-bot")),
  },
  {
    name: "an unsigned assertion (alg NONE) naming a registered kid",
    agentId: "support-bot",
    failure: "algorithm_not_allowed",
    make: async () => handmadeJwt({ alg: "NONE", kid: "support-bot-1" }, assertionClaims("support-bot")),
  },
  {
    name: "an assertion whose alg is ES256 in the wrong case",
    agentId: "support-bot",
    failure: "algorithm_not_allowed",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot")).then((jwt) => withHeader(jwt, { alg: "es256" })),
  },
  {
    name: "an HS256 assertion keyed with the agent's public JWK as text (algorithm confusion)",
    agentId: "support-bot",
    failure: "algorithm_not_allowed",
    make: () => hmacWithPublicKey("support-bot", async () => textBytes(JSON.stringify(agentPublicJwk("support-bot")))),
  },
  {
    name: "an HS256 assertion keyed with the agent's public key PEM (algorithm confusion)",
    agentId: "support-bot",
    failure: "algorithm_not_allowed",
    make: () => hmacWithPublicKey("support-bot", async (key) => textBytes(await exportSPKI(key))),
  },
  {
    name: "an HS256 assertion keyed with the agent's raw public key bytes (algorithm confusion)",
    agentId: "support-bot",
    failure: "algorithm_not_allowed",
    make: () => hmacWithPublicKey("support-bot", async (key) => new Uint8Array((await crypto.subtle.exportKey("raw", key)) as ArrayBuffer)),
  },
  {
    name: "an RS256 assertion under the agent's kid",
    agentId: "support-bot",
    failure: "algorithm_not_allowed",
    make: () => signWithAttackerKey("RS256", "support-bot", { kid: "support-bot-1" }),
  },
  // Key attacks: only the agent's registered key, used with its own key type, may verify.
  {
    name: "an ES256 assertion naming the kid of an Ed25519 key (key type mismatch)",
    agentId: "billing-agent",
    failure: "key_type_mismatch",
    make: () => signWithAttackerKey("ES256", "billing-agent", { kid: "billing-agent-1" }),
  },
  {
    name: "an EdDSA assertion naming the kid of a P-256 key (key type mismatch)",
    agentId: "support-bot",
    failure: "key_type_mismatch",
    make: () => signWithAttackerKey("EdDSA", "support-bot", { kid: "support-bot-1" }),
  },
  {
    name: "an ES256 assertion signed by another key under the agent's kid",
    agentId: "support-bot",
    failure: "bad_signature",
    make: () => signWithAttackerKey("ES256", "support-bot", { kid: "support-bot-1" }),
  },
  {
    name: "an ES256 assertion signed by another key without a kid",
    agentId: "support-bot",
    failure: "bad_signature",
    make: () => signWithAttackerKey("ES256", "support-bot", {}),
  },
  {
    name: "an EdDSA assertion signed by another key under the agent's kid",
    agentId: "billing-agent",
    failure: "bad_signature",
    make: () => signWithAttackerKey("EdDSA", "billing-agent", { kid: "billing-agent-1" }),
  },
  {
    name: "an Ed25519 (fully-specified alg) assertion signed by another key under the agent's kid",
    agentId: "billing-agent",
    failure: "bad_signature",
    make: () => signWithAttackerKey("Ed25519", "billing-agent", { kid: "billing-agent-1" }),
  },
  {
    name: "a genuine assertion whose signature was stripped",
    agentId: "support-bot",
    failure: "bad_signature",
    make: async () => (await assertionFor("support-bot")).replace(/[^.]+$/, ""),
  },
  {
    name: "a genuine assertion whose claims were edited after signing",
    agentId: "support-bot",
    failure: "bad_signature",
    make: async () => {
      const [header, , signature] = (await assertionFor("support-bot")).split(".");
      const edited = base64url.encode(JSON.stringify(assertionClaims("support-bot", { exp: nowSeconds() + 299 })));
      return `${header}.${edited}.${signature}`;
    },
  },
  {
    name: "a genuine signature transplanted onto another agent's claims",
    agentId: "billing-agent",
    failure: "bad_signature",
    make: async () => {
      const [, , signature] = (await assertionFor("billing-agent")).split(".");
      const [header, payload] = handmadeJwt({ alg: "EdDSA", kid: "billing-agent-1" }, assertionClaims("billing-agent")).split(".");
      return `${header}.${payload}.${signature}`;
    },
  },
  {
    name: "an assertion that embeds the attacker's own public key in its header (jwk, RFC 7515 §4.1.3)",
    agentId: "support-bot",
    failure: "bad_signature",
    make: async () => {
      const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
      return new SignJWT(assertionClaims("support-bot"))
        .setProtectedHeader({ alg: "ES256", kid: "support-bot-1", jwk: await exportJWK(publicKey) })
        .sign(privateKey);
    },
  },
  {
    name: "an assertion that points at the attacker's key set (jku, RFC 7515 §4.1.2)",
    agentId: "support-bot",
    failure: "bad_signature",
    make: () => signWithAttackerKey("ES256", "support-bot", { kid: "support-bot-1", jku: "https://evil.example.com/jwks.json" }),
  },
  {
    name: "a genuine assertion whose signature was cut to the wrong length",
    agentId: "support-bot",
    failure: "bad_signature",
    make: async () => (await assertionFor("support-bot")).slice(0, -8),
  },
  {
    name: "a genuine Ed25519 assertion with a signature twice as long",
    agentId: "billing-agent",
    failure: "bad_signature",
    make: async () => {
      const jwt = await assertionFor("billing-agent");
      const signature = jwt.slice(jwt.lastIndexOf(".") + 1);
      return `${jwt}${signature}`;
    },
  },
  {
    name: "a genuine assertion whose signature is not base64url",
    agentId: "support-bot",
    failure: "malformed",
    make: async () => `${(await assertionFor("support-bot")).replace(/[^.]+$/, "")}sig+nat/ure==`,
  },
  {
    name: "an assertion under a kid the agent does not have",
    agentId: "support-bot",
    failure: "unknown_key",
    make: () => signWithAttackerKey("ES256", "support-bot", { kid: "support-bot-2" }),
  },
  {
    name: "an assertion under another agent's kid",
    agentId: "support-bot",
    failure: "unknown_key",
    make: () => signWithAttackerKey("ES256", "support-bot", { kid: "report-bot-1" }),
  },
  {
    name: "an assertion whose kid is an injection string",
    agentId: "support-bot",
    failure: "unknown_key",
    make: () => signWithAttackerKey("ES256", "support-bot", { kid: "support-bot-1' OR '1'='1" }),
  },
  {
    name: "an assertion for an agent the policy does not know",
    agentId: "support-bot",
    failure: "unknown_agent",
    make: () => signWithAttackerKey("ES256", "evil-bot", { kid: "evil-bot-1" }),
  },
  // Claim attacks, with the agent's genuine signature: RFC 7523 §3 items 1-7.
  {
    name: "an assertion whose iss differs from its sub",
    agentId: "support-bot",
    failure: "issuer_subject_mismatch",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { sub: "billing-agent" })),
  },
  {
    name: "an assertion without iss",
    agentId: "support-bot",
    failure: "issuer_subject_mismatch",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { iss: undefined })),
  },
  {
    name: "a JWT typed as a leaked-key report, with a client assertion's claims (RFC 8725 §3.11)",
    agentId: "support-bot",
    failure: "malformed",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot"), { typ: "writ-key-report+jwt" }),
  },
  {
    name: "an assertion for another audience",
    agentId: "support-bot",
    failure: "wrong_audience",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { aud: "https://evil.example.com" })),
  },
  {
    name: "an assertion for another Writ deployment",
    agentId: "support-bot",
    failure: "wrong_audience",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { aud: "https://writ.example.com" })),
  },
  {
    name: "an assertion whose audience only starts like the issuer",
    agentId: "support-bot",
    failure: "wrong_audience",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { aud: `${ISSUER}.evil.example.com` })),
  },
  // Audience injection (RFC 7523bis): a foreign audience beside the issuer (more cases: test/attacks/client-assertion.test.ts).
  {
    name: "an assertion whose audience array adds a foreign audience to the issuer",
    agentId: "support-bot",
    failure: "wrong_audience",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { aud: [ISSUER, "https://evil.example.com"] })),
  },
  {
    name: "an assertion without aud",
    agentId: "support-bot",
    failure: "wrong_audience",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { aud: undefined })),
  },
  {
    name: "an expired assertion",
    agentId: "support-bot",
    failure: "expired",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { iat: nowSeconds() - 240, exp: nowSeconds() - 120 })),
  },
  {
    name: "an assertion whose nbf is in the future",
    agentId: "billing-agent",
    failure: "not_yet_valid",
    make: () => signWithAgentKey("billing-agent", assertionClaims("billing-agent", { nbf: nowSeconds() + 120, exp: nowSeconds() + 180 })),
  },
  {
    name: "an assertion whose iat is in the future",
    agentId: "support-bot",
    failure: "issued_in_future",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { iat: nowSeconds() + 120, exp: nowSeconds() + 180 })),
  },
  {
    name: "an assertion that lives longer than five minutes",
    agentId: "support-bot",
    failure: "lifetime_too_long",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { exp: nowSeconds() + 301 })),
  },
  {
    name: "an assertion without iat that expires more than five minutes from now",
    agentId: "billing-agent",
    failure: "lifetime_too_long",
    make: () => signWithAgentKey("billing-agent", assertionClaims("billing-agent", { iat: undefined, exp: nowSeconds() + 3600 })),
  },
  {
    name: "an assertion without exp",
    agentId: "support-bot",
    failure: "missing_claim",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { exp: undefined })),
  },
  {
    name: "an assertion without jti",
    agentId: "support-bot",
    failure: "missing_claim",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { jti: undefined })),
  },
  {
    name: "an assertion with an empty jti",
    agentId: "support-bot",
    failure: "missing_claim",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { jti: "" })),
  },
  {
    name: "an assertion with a numeric jti",
    agentId: "support-bot",
    failure: "missing_claim",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { jti: 42 })),
  },
  {
    name: "an assertion with a jti too long to remember",
    agentId: "support-bot",
    failure: "missing_claim",
    make: () => signWithAgentKey("support-bot", assertionClaims("support-bot", { jti: "j".repeat(257) })),
  },
  // Structure attacks: anything that is not a compact JWS is malformed, never a crash.
  {
    name: "an assertion carrying a critical header extension the broker does not understand",
    agentId: "support-bot",
    failure: "malformed",
    // RFC 7515 §4.1.11: a recipient that does not understand a listed extension must reject the JWS. jose refuses to
    // sign such a header, so the genuine signature is computed directly with WebCrypto.
    make: () => handSignedAssertion("support-bot", { alg: "ES256", kid: "support-bot-1", crit: ["x-writ-bypass"], "x-writ-bypass": true }),
  },
  { name: "a garbage string", agentId: "support-bot", failure: "malformed", make: async () => "not-a-jwt" },
  { name: "three dots", agentId: "support-bot", failure: "malformed", make: async () => "..." },
  {
    name: "a three-part token whose parts are not base64url",
    agentId: "support-bot",
    failure: "malformed",
    make: async () => "eyJ!!!.@@@###.$$$%%%",
  },
  {
    name: "a three-part token whose header is base64url of something other than JSON",
    agentId: "support-bot",
    failure: "malformed",
    make: async () => `${base64url.encode("not json")}.${base64url.encode(JSON.stringify(assertionClaims("support-bot")))}.c2ln`,
  },
  {
    name: "a three-part token whose payload is a JSON array",
    agentId: "support-bot",
    failure: "malformed",
    make: async () => handmadeJwt({ alg: "ES256", kid: "support-bot-1" }, ["support-bot"], "c2ln"),
  },
  {
    name: "a five-part token (JWE shape)",
    agentId: "support-bot",
    failure: "malformed",
    make: async () => `${base64url.encode(JSON.stringify({ alg: "dir", enc: "A256GCM" }))}.e.e.e.e`,
  },
];

/** Replaces header members of a compact JWS and keeps the rest byte for byte. */
function withHeader(jwt: string, changes: Record<string, unknown>): string {
  const [header = "", payload = "", signature = ""] = jwt.split(".");
  const decoded = JSON.parse(new TextDecoder().decode(base64url.decode(header))) as Record<string, unknown>;
  return `${base64url.encode(JSON.stringify({ ...decoded, ...changes }))}.${payload}.${signature}`;
}
