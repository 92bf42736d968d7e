import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import * as z from "zod";
import type { ApproverPasskeys, StoredCredential } from "../../durable-objects/approver-passkeys.ts";
import { base64url, fromBase64url } from "../../lib/crypto.ts";
import { parseJson } from "../../lib/json.ts";
import { normaliseEmail } from "../../schemas/policy.ts";
import { type ConfigSource, readConfig } from "../config.ts";
import type { WritEnv } from "../env.ts";

/**
 * Passkeys for approvers, around @simplewebauthn/server. The approval page's per-view nonce is the WebAuthn
 * challenge of the step-up assertion, so an assertion is bound to one approver's view of one request and
 * cannot be replayed onto another page or after the nonce has expired.
 */

/** The relying party: the approval origin (a browser compares it to the page's origin) and its host name as RP ID. */
export type RelyingParty = { origin: string; rpID: string; rpName: string };

/** COSE algorithms accepted at registration: EdDSA, ES256, RS256 (what platform and roaming authenticators offer). */
const SUPPORTED_ALGORITHMS = [-8, -7, -257];
const CEREMONY_TIMEOUT_MS = 120_000;
/** Nothing a browser sends for one credential comes close; a cap keeps hostile input cheap to refuse. */
const MAX_FIELD_CHARS = 8192;

const b64url = z
  .string()
  .max(MAX_FIELD_CHARS)
  .regex(/^[A-Za-z0-9_-]*$/, "base64url");

const AssertionSchema = z.object({
  id: b64url.min(1),
  rawId: b64url.min(1),
  type: z.literal("public-key"),
  response: z.object({
    clientDataJSON: b64url,
    authenticatorData: b64url,
    signature: b64url,
    userHandle: b64url.optional(),
  }),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
});

const AttestationSchema = z.object({
  id: b64url.min(1),
  rawId: b64url.min(1),
  type: z.literal("public-key"),
  response: z.object({
    clientDataJSON: b64url,
    attestationObject: b64url,
    transports: z.array(z.string().max(32)).max(8).optional(),
  }),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
});

export type PasskeyProblem = "passkey_malformed" | "passkey_unknown" | "passkey_invalid";
export type PasskeyFailure = { ok: false; problem: PasskeyProblem; detail: string };
export type VerifiedAssertion = { ok: true; credentialId: string; newCounter: number };
export type VerifiedRegistration = { ok: true; credential: StoredCredential };

/**
 * The approver's passkeys: one object per person, named by the normalised address, the same spelling the policy,
 * the quorum and Access use. Callers check the address against the policy first: this creates the object.
 */
export function approverPasskeys(env: Pick<WritEnv, "APPROVER_PASSKEYS">, email: string): DurableObjectStub<ApproverPasskeys> {
  return env.APPROVER_PASSKEYS.getByName(normaliseEmail(email));
}

/**
 * APPROVAL_ORIGIN (default ISSUER) names the relying party. A bad value is misconfiguration and throws.
 *
 * @example relyingParty({ ISSUER: "https://writ.example.com" }) // { origin: "https://writ.example.com", rpID: "writ.example.com", … }
 */
export function relyingParty(env: ConfigSource): RelyingParty {
  // readConfig is the one reader of APPROVAL_ORIGIN/ISSUER; a bad value throws there, loudly.
  const url = new URL(readConfig(env).approvalOrigin);
  return { origin: url.origin, rpID: url.hostname, rpName: "Writ approvals" };
}

/**
 * The nonce's UTF-8 bytes are the challenge; this is how they look on the wire (clientDataJSON.challenge).
 *
 * @example challengeFromNonce("1800000000000.mac") // "MTgwMDAwMDAwMDAwMC5tYWM"
 */
export function challengeFromNonce(nonce: string): string {
  return base64url(new TextEncoder().encode(nonce));
}

/** What the approval page hands to `navigator.credentials.get`: this view's nonce as challenge, the approver's passkeys. */
export function assertionOptions(
  rp: RelyingParty,
  nonce: string,
  credentials: readonly StoredCredential[],
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({
    rpID: rp.rpID,
    // A string challenge is taken as UTF-8 bytes, exactly what challengeFromNonce encodes.
    challenge: nonce,
    allowCredentials: credentials.map((c) => ({ id: c.id, transports: c.transports })),
    userVerification: "required",
    timeout: CEREMONY_TIMEOUT_MS,
  });
}

/**
 * Checks a step-up assertion (the `webauthn` form field, JSON) against this view's nonce and the approver's passkeys.
 * Refusals are values; the library's verification errors become `passkey_invalid` with the reason as private detail.
 */
export async function verifyAssertion(
  rp: RelyingParty,
  nonce: string,
  responseText: string,
  findCredential: (id: string) => Promise<StoredCredential | undefined>,
): Promise<VerifiedAssertion | PasskeyFailure> {
  const parsed = AssertionSchema.safeParse(jsonOrUndefined(responseText));
  if (!parsed.success) return { ok: false, problem: "passkey_malformed", detail: "not a WebAuthn assertion" };
  const response: AuthenticationResponseJSON = parsed.data;
  const credential = await findCredential(response.id);
  if (!credential) return { ok: false, problem: "passkey_unknown", detail: "no such passkey enrolled for this approver" };
  try {
    const verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challengeFromNonce(nonce),
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpID,
      expectedType: "webauthn.get",
      requireUserVerification: true,
      credential: {
        id: credential.id,
        publicKey: fromBase64url(credential.publicKey),
        counter: credential.counter,
        transports: credential.transports,
      },
    });
    if (!verified.verified) return { ok: false, problem: "passkey_invalid", detail: "signature did not verify" };
    return { ok: true, credentialId: credential.id, newCounter: verified.authenticationInfo.newCounter };
  } catch (error) {
    // @simplewebauthn reports a failed check (challenge, origin, RP ID, flags, signature) by throwing.
    return { ok: false, problem: "passkey_invalid", detail: libraryReason(error) };
  }
}

/** What the enrolment page hands to `navigator.credentials.create`. `userHandle` is the approver's random WebAuthn user id. */
export function registrationOptions(
  rp: RelyingParty,
  input: { email: string; userHandle: string; challenge: string; existingCredentialIds: readonly string[] },
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: rp.rpName,
    rpID: rp.rpID,
    userName: input.email,
    userDisplayName: input.email,
    userID: fromBase64url(input.userHandle),
    challenge: fromBase64url(input.challenge),
    attestationType: "none",
    excludeCredentials: input.existingCredentialIds.map((id) => ({ id })),
    authenticatorSelection: { residentKey: "preferred", userVerification: "required" },
    supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
    timeout: CEREMONY_TIMEOUT_MS,
  });
}

/** Checks a new passkey (the page script's JSON) against the challenge stored when the ceremony began. */
export async function verifyRegistration(
  rp: RelyingParty,
  challenge: string,
  body: unknown,
): Promise<VerifiedRegistration | PasskeyFailure> {
  const parsed = AttestationSchema.safeParse(body);
  if (!parsed.success) return { ok: false, problem: "passkey_malformed", detail: "not a WebAuthn registration" };
  const response: RegistrationResponseJSON = parsed.data;
  try {
    const verified = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpID,
      expectedType: "webauthn.create",
      requireUserVerification: true,
      supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
    });
    if (!verified.verified) return { ok: false, problem: "passkey_invalid", detail: "attestation did not verify" };
    const { credential } = verified.registrationInfo;
    return {
      ok: true,
      credential: {
        id: credential.id,
        publicKey: base64url(credential.publicKey),
        counter: credential.counter,
        transports: response.response.transports ?? [],
      },
    };
  } catch (error) {
    return { ok: false, problem: "passkey_invalid", detail: libraryReason(error) };
  }
}

/** The library's message without the values it quotes (challenges, origins): the log gets the reason, not the data. */
function libraryReason(error: unknown): string {
  if (!(error instanceof Error)) return "verification failed";
  return error.message.split('"')[0]?.trim().slice(0, 160) || error.name;
}

function jsonOrUndefined(text: string): unknown {
  const parsed = parseJson(text);
  return parsed.ok ? parsed.value : undefined;
}
