import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { base64url } from "../../lib/crypto.ts";
import { DEV_VARS } from "../../scripts/dev-vars.ts";

/** The approval pages' origin (APPROVAL_ORIGIN): what passkeys are bound to. */
const ORIGIN = DEV_VARS.APPROVAL_ORIGIN;

/**
 * A software passkey (ES256, "none" attestation) that builds real WebAuthn responses, so the server side of
 * both ceremonies runs for real inside workerd. The browser side is tested with Chromium's virtual authenticator.
 */
export class SoftAuthenticator {
  readonly credentialId: string;
  counter: number;
  readonly #keys: CryptoKeyPair;

  private constructor(keys: CryptoKeyPair, credentialId: string, counter: number) {
    this.#keys = keys;
    this.credentialId = credentialId;
    this.counter = counter;
  }

  /** `counter`: the signature counter it starts from; 0 means "keeps no counter" (like synced passkeys). */
  static async create(counter = 0): Promise<SoftAuthenticator> {
    const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    return new SoftAuthenticator(keys, base64url(crypto.getRandomValues(new Uint8Array(16))), counter);
  }

  async register(options: PublicKeyCredentialCreationOptionsJSON, origin = ORIGIN): Promise<RegistrationResponseJSON> {
    const jwk = (await crypto.subtle.exportKey("jwk", this.#keys.publicKey)) as JsonWebKey;
    const cose = cbor(
      new Map<CborValue, CborValue>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, fromB64(jwk.x ?? "")],
        [-3, fromB64(jwk.y ?? "")],
      ]),
    );
    const id = fromB64(this.credentialId);
    const attested = concat(new Uint8Array(16), new Uint8Array([id.length >> 8, id.length & 0xff]), id, cose);
    const authData = concat(await rpIdHash(options.rp.id ?? "localhost"), new Uint8Array([0x45]), counterBytes(this.counter), attested);
    const attestationObject = cbor(
      new Map<CborValue, CborValue>([
        ["fmt", "none"],
        ["attStmt", new Map()],
        ["authData", authData],
      ]),
    );
    const clientData = JSON.stringify({ type: "webauthn.create", challenge: options.challenge, origin, crossOrigin: false });
    return {
      id: this.credentialId,
      rawId: this.credentialId,
      type: "public-key",
      clientExtensionResults: {},
      response: {
        clientDataJSON: base64url(new TextEncoder().encode(clientData)),
        attestationObject: base64url(attestationObject),
        transports: ["internal"],
      },
    };
  }

  async assert(
    options: PublicKeyCredentialRequestOptionsJSON,
    overrides: { origin?: string; userVerified?: boolean; counter?: number } = {},
  ): Promise<AuthenticationResponseJSON> {
    if (this.counter > 0) this.counter++;
    const flags = overrides.userVerified === false ? 0x01 : 0x05;
    const authData = concat(
      await rpIdHash(options.rpId ?? "localhost"),
      new Uint8Array([flags]),
      counterBytes(overrides.counter ?? this.counter),
    );
    const clientData = new TextEncoder().encode(
      JSON.stringify({ type: "webauthn.get", challenge: options.challenge, origin: overrides.origin ?? ORIGIN, crossOrigin: false }),
    );
    const signed = concat(authData, new Uint8Array(await crypto.subtle.digest("SHA-256", clientData)));
    const raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, this.#keys.privateKey, signed));
    return {
      id: this.credentialId,
      rawId: this.credentialId,
      type: "public-key",
      clientExtensionResults: {},
      response: { clientDataJSON: base64url(clientData), authenticatorData: base64url(authData), signature: base64url(derSignature(raw)) },
    };
  }
}

type CborValue = number | string | Uint8Array | Map<CborValue, CborValue>;

/** The few CBOR types WebAuthn needs (RFC 8949 §3.1): integers, byte and text strings, maps. */
function cbor(value: CborValue): Uint8Array {
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") {
    const bytes = new TextEncoder().encode(value);
    return concat(head(3, bytes.length), bytes);
  }
  if (value instanceof Uint8Array) return concat(head(2, value.length), value);
  return concat(head(5, value.size), ...[...value].flatMap(([k, v]) => [cbor(k), cbor(v)]));
}

function head(major: number, n: number): Uint8Array {
  if (n < 24) return new Uint8Array([(major << 5) | n]);
  if (n < 0x100) return new Uint8Array([(major << 5) | 24, n]);
  return new Uint8Array([(major << 5) | 25, n >> 8, n & 0xff]);
}

/** WebAuthn ES256 signatures are ASN.1 DER, WebCrypto's are r‖s. */
function derSignature(raw: Uint8Array): Uint8Array {
  const integer = (part: Uint8Array) => {
    let i = 0;
    while (i < part.length - 1 && part[i] === 0) i++;
    const trimmed = part.slice(i);
    const body = (trimmed[0] ?? 0) & 0x80 ? concat(new Uint8Array([0]), trimmed) : trimmed;
    return concat(new Uint8Array([0x02, body.length]), body);
  };
  const seq = concat(integer(raw.slice(0, 32)), integer(raw.slice(32)));
  return concat(new Uint8Array([0x30, seq.length]), seq);
}

async function rpIdHash(rpId: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(rpId)));
}

function counterBytes(counter: number): Uint8Array {
  return new Uint8Array([(counter >>> 24) & 0xff, (counter >>> 16) & 0xff, (counter >>> 8) & 0xff, counter & 0xff]);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function fromB64(text: string): Uint8Array {
  const binary = atob(
    text
      .replace(/-/g, "+")
      .replace(/_/g, "/")
      .padEnd(Math.ceil(text.length / 4) * 4, "="),
  );
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}
