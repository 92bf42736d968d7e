import { createRemoteJWKSet, errors, type JWTVerifyGetKey, jwtVerify } from "jose";
import { normaliseEmail } from "../../schemas/policy.ts";
import type { WritEnv } from "../env.ts";

/**
 * Cloudflare Access as approver authentication: when the approval origin sits behind an Access application,
 * Cloudflare adds `Cf-Access-Jwt-Assertion` (RS256, signed with the team's keys) to every request it lets
 * through. We verify it ourselves (a request can reach the Worker without passing Access, e.g. via workers.dev)
 * and require its `email` to be the approver the link was sent to.
 */

export const ACCESS_JWT_HEADER = "cf-access-jwt-assertion";

export type AccessSettings = { teamDomain: string; audience: string };
/** Where the team's signing keys come from; tests pass a local key set instead of the network. */
export type AccessKeySource = (teamDomain: string) => JWTVerifyGetKey;

export type AccessProblem = "access_missing" | "access_invalid" | "access_email_mismatch";
export type AccessResult = { ok: true; email: string } | { ok: false; problem: AccessProblem; detail: string };

/** Small leeway for the clock of the Access edge vs. ours. */
const CLOCK_TOLERANCE_SECONDS = 30;

/**
 * The Access settings, or undefined when either is unset: the caller must then refuse an approval that needs
 * Access (misconfiguration is never read as "no check needed").
 *
 * @example accessSettings({ ACCESS_TEAM_DOMAIN: "acme.cloudflareaccess.com", ACCESS_AUD: "4714c1…" })
 * // { teamDomain: "https://acme.cloudflareaccess.com", audience: "4714c1…" }
 */
export function accessSettings(env: Pick<WritEnv, "ACCESS_TEAM_DOMAIN" | "ACCESS_AUD">): AccessSettings | undefined {
  const team = env.ACCESS_TEAM_DOMAIN?.trim();
  const audience = env.ACCESS_AUD?.trim();
  if (!team || !audience) return undefined;
  const withScheme = /^https?:\/\//.test(team) ? team : `https://${team}`;
  return { teamDomain: new URL(withScheme).origin, audience };
}

const remoteKeySets = new Map<string, JWTVerifyGetKey>();

/**
 * The team's published keys (`<team domain>/cdn-cgi/access/certs`), one cached set per isolate; jose refetches
 * on an unknown `kid`, which is how Access key rotation is picked up.
 */
export const remoteAccessKeys: AccessKeySource = (teamDomain) => {
  let keys = remoteKeySets.get(teamDomain);
  if (!keys) {
    keys = createRemoteJWKSet(new URL("/cdn-cgi/access/certs", teamDomain));
    remoteKeySets.set(teamDomain, keys);
  }
  return keys;
};

/**
 * Verifies an Access assertion for this approver: signature (RS256, team keys), `iss` = team domain,
 * `aud` ∋ the application's AUD tag, `exp`/`nbf`, and `email` the approver's (both normalised: case-insensitive).
 *
 * @example
 * const result = await verifyAccessJwt(c.req.header(ACCESS_JWT_HEADER), "ada@example.com", { settings, keys: remoteAccessKeys, now: new Date() });
 * if (result.ok) authMethod = "access";
 */
export async function verifyAccessJwt(
  token: string | undefined,
  approver: string,
  options: { settings: AccessSettings; keys: AccessKeySource; now: Date },
): Promise<AccessResult> {
  const identity = await verifyAccessIdentity(token, options);
  if (!identity.ok) return identity;
  // Access and the policy spell one person the same way only once both are normalised.
  if (normaliseEmail(identity.email) !== normaliseEmail(approver))
    return { ok: false, problem: "access_email_mismatch", detail: "Access identity is not the approver of this link" };
  return identity;
}

/** Who an Access assertion says the user is: signature, issuer, audience and lifetime checked, `email` required. */
export async function verifyAccessIdentity(
  token: string | undefined,
  options: { settings: AccessSettings; keys: AccessKeySource; now: Date },
): Promise<AccessResult> {
  if (!token) return { ok: false, problem: "access_missing", detail: "no Cf-Access-Jwt-Assertion header" };
  let email: unknown;
  try {
    const { payload } = await jwtVerify(token, options.keys(options.settings.teamDomain), {
      algorithms: ["RS256"],
      issuer: options.settings.teamDomain,
      audience: options.settings.audience,
      currentDate: options.now,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["exp", "email"],
    });
    email = payload.email;
  } catch (error) {
    // jose's JOSEError family is untrusted-input failure; anything else (a bug, a network failure) propagates.
    if (error instanceof errors.JOSEError) return { ok: false, problem: "access_invalid", detail: error.code };
    throw error;
  }
  if (typeof email !== "string" || email.length === 0) return { ok: false, problem: "access_invalid", detail: "no email claim" };
  return { ok: true, email };
}
