import { importJWK, type JWK, type JWTPayload, SignJWT } from "jose";
import type { TrustedIssuer } from "../../schemas/trusted-issuer.ts";
import devIssuerKey from "./fixtures/dev-workload-issuer-key.json" with { type: "json" };

/**
 * The dev workload issuer (local development only, like the dev outbox): it mints tokens shaped like those of
 * GitHub Actions, Kubernetes and SPIFFE, so that federated workload identity can be tried without any of them.
 * Its private key is a public test fixture (core/identity/fixtures/dev-workload-issuer-key.json), so a policy that trusts it
 * trusts anyone: `policy:check` must refuse it outside local development, as it refuses the demo agents' keys.
 * Served by worker/routes/dev-workload-issuer.ts, used by `npm run workload-token` and the tests.
 */

/** A `.invalid` name (RFC 2606): no real issuer can ever have it. */
export const DEV_WORKLOAD_ISSUER = "https://dev-workload-issuer.writ.invalid";
/** What the demo policy expects the tokens to be addressed to. */
export const DEV_WORKLOAD_AUDIENCE = "writ-dev";
export const DEV_WORKLOAD_KINDS = ["github", "kubernetes", "spiffe"] as const;
export type DevWorkloadKind = (typeof DEV_WORKLOAD_KINDS)[number];

/** How long each platform's tokens live by default: GitHub 5 minutes (about), Kubernetes 1 hour, SPIRE 5 minutes. */
const LIFETIME_SECONDS: Record<DevWorkloadKind, number> = { github: 300, kubernetes: 3600, spiffe: 300 };
const SPIFFE_TRUST_DOMAIN = "spiffe://dev.writ.invalid";

const PRIVATE_JWK: JWK & { kid: string; alg: string } = devIssuerKey;

/** The issuer's public key set, as its JWKS endpoint publishes it and the demo policy lists it inline. */
export function devWorkloadJwks(): { keys: JWK[] } {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = PRIVATE_JWK;
  return { keys: [publicJwk] };
}

/**
 * The claims a platform would put in a workload token for `subject`:
 * - `github`: `owner/repo` (the job runs on refs/heads/main, workflow "deploy")
 * - `kubernetes`: `namespace/service-account`
 * - `spiffe`: a SPIFFE ID, or a path under spiffe://dev.writ.invalid
 * Throws `TypeError` for a subject of the wrong shape.
 */
export function devWorkloadClaims(kind: DevWorkloadKind, subject: string, audience: string, now: Date): JWTPayload {
  const iat = Math.floor(now.getTime() / 1000);
  const base = { iss: DEV_WORKLOAD_ISSUER, iat, nbf: iat, exp: iat + LIFETIME_SECONDS[kind], jti: crypto.randomUUID() };
  if (kind === "github") {
    const [owner, repo, ...rest] = subject.split("/");
    if (!owner || !repo || rest.length > 0) throw new TypeError(`a GitHub subject is owner/repo, not ${JSON.stringify(subject)}`);
    const ref = "refs/heads/main";
    return {
      ...base,
      aud: audience,
      sub: `repo:${subject}:ref:${ref}`,
      repository: subject,
      repository_id: String(stableNumber(subject)),
      repository_owner: owner,
      repository_owner_id: String(stableNumber(owner)),
      ref,
      ref_type: "branch",
      workflow: "deploy",
      job_workflow_ref: `${subject}/.github/workflows/deploy.yml@${ref}`,
      event_name: "push",
      run_id: String(iat),
      run_attempt: "1",
      runner_environment: "github-hosted",
    };
  }
  if (kind === "kubernetes") {
    const [namespace, serviceAccount, ...rest] = subject.split("/");
    if (!namespace || !serviceAccount || rest.length > 0)
      throw new TypeError(`a Kubernetes subject is namespace/service-account, not ${JSON.stringify(subject)}`);
    return {
      ...base,
      aud: [audience],
      sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
      "kubernetes.io": {
        namespace,
        serviceaccount: { name: serviceAccount, uid: crypto.randomUUID() },
        pod: { name: `${serviceAccount}-7d9f8c6b5-x2x4z`, uid: crypto.randomUUID() },
      },
    };
  }
  const spiffeId = subject.startsWith("spiffe://") ? subject : `${SPIFFE_TRUST_DOMAIN}/${subject.replace(/^\/+/, "")}`;
  return { ...base, aud: [audience], sub: spiffeId };
}

/**
 * A signed workload token from the dev issuer.
 *
 * @example await mintDevWorkloadToken("github", "acme/deploy-bot", now) // "eyJhbGciOiJSUzI1NiIs…"
 */
export async function mintDevWorkloadToken(
  kind: DevWorkloadKind,
  subject: string,
  now: Date,
  audience: string = DEV_WORKLOAD_AUDIENCE,
): Promise<string> {
  const claims = devWorkloadClaims(kind, subject, audience, now);
  const key = await importJWK(PRIVATE_JWK, PRIVATE_JWK.alg);
  return new SignJWT(claims).setProtectedHeader({ alg: PRIVATE_JWK.alg, kid: PRIVATE_JWK.kid, typ: "JWT" }).sign(key);
}

export function isDevWorkloadKind(kind: string): kind is DevWorkloadKind {
  return (DEV_WORKLOAD_KINDS as readonly string[]).includes(kind);
}

/** GitHub's ids are numbers; the dev issuer derives one from the name so that a rule can pin it. */
function stableNumber(text: string): number {
  let hash = 0;
  for (const char of text) hash = (Math.imul(hash, 31) + (char.codePointAt(0) ?? 0)) >>> 0;
  return hash % 1_000_000_000;
}

/**
 * Every trusted issuer of a policy that is the dev workload issuer, by name or by its published key: with one of
 * those, anyone who has read the repository can mint a workload token for the agents it maps. For `policy:check`,
 * which refuses them outside local development as it refuses the demo agents' keys.
 *
 * @example devWorkloadIssuerProblems(policy.trusted_issuers) // ['trusted_issuers[0]: the dev workload issuer …']
 */
export function devWorkloadIssuerProblems(issuers: readonly Pick<TrustedIssuer, "issuer" | "jwks">[]): string[] {
  return issuers.flatMap((trusted, i) =>
    trusted.issuer === DEV_WORKLOAD_ISSUER || (trusted.jwks?.keys ?? []).some((key) => key.kty === "RSA" && key.n === PRIVATE_JWK.n)
      ? [`trusted_issuers[${i}]: the dev workload issuer, whose private key is published: anyone can mint tokens for the agents it maps`]
      : [],
  );
}
