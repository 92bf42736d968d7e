import * as z from "zod";
import { policyId, policyRecord } from "./policy-names.ts";

/**
 * Federated workload identity (issue 14): the policy names issuers whose JWTs Writ accepts as an agent's identity
 * (GitHub Actions, Kubernetes service-account tokens, SPIFFE JWT-SVIDs, any OIDC workload token), and rules that
 * map a verified token's claims to one agent id. See docs/workload-identity.md.
 */

/** RFC 8693 §3: a subject token that is an OpenID Connect ID token (GitHub Actions' OIDC tokens are). */
export const ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token";

/** Asymmetric algorithms only (RFC 8725 §3.1): RSA is what GitHub, Kubernetes and SPIRE sign with by default. */
export const WORKLOAD_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519"] as const;
export type WorkloadAlgorithm = (typeof WORKLOAD_ALGORITHMS)[number];

export const MAX_TRUSTED_ISSUERS = 32;
export const MAX_RULES_PER_ISSUER = 200;
/** Workload tokens live minutes (GitHub: 5–10) to hours (Kubernetes: 1 h by default, up to 24 h). */
export const MAX_WORKLOAD_TOKEN_AGE_SECONDS = 24 * 3600;
export const DEFAULT_WORKLOAD_TOKEN_AGE_SECONDS = 3600;

const agentId = policyId;

/** A claim value a rule pins: exact, case-sensitive, never a pattern (a pattern is how a mapping gets wider than meant). */
const claimValue = z.string().min(1).max(512);

/** A public verification key of the issuer. RSA is allowed here (unlike agents' keys): it is what workload platforms use. */
const issuerJwk = z
  .looseObject({
    kty: z.enum(["RSA", "EC", "OKP"]),
    kid: z.string().min(1).max(256).optional(),
    alg: z.string().max(16).optional(),
    use: z.literal("sig").optional(),
  })
  .superRefine((jwk, ctx) => {
    // Public keys only: a private member here would publish the issuer's signing key in the policy bundle.
    for (const member of ["d", "p", "q", "dp", "dq", "qi", "k"])
      if (Object.hasOwn(jwk, member))
        ctx.addIssue({ code: "custom", path: [member], message: "a private key member: list public keys only" });
  });

/** GitHub Actions OIDC token claims (docs.github.com "About security hardening with OpenID Connect"). */
const githubMatch = z
  .object({
    repository: claimValue.optional(),
    /** Names can be re-registered by someone else after a rename; the numeric ids cannot. */
    repository_id: claimValue.optional(),
    repository_owner: claimValue.optional(),
    repository_owner_id: claimValue.optional(),
    ref: claimValue.optional(),
    workflow: claimValue.optional(),
    job_workflow_ref: claimValue.optional(),
    environment: claimValue.optional(),
    event_name: claimValue.optional(),
  })
  .strict()
  .refine((m) => m.repository !== undefined || m.repository_id !== undefined, {
    message: "a GitHub rule must pin repository or repository_id (anything else matches other people's repositories)",
  });

/** A projected service-account token (Kubernetes TokenRequest API): `kubernetes.io.namespace`, `…serviceaccount.name`. */
const kubernetesMatch = z.object({ namespace: claimValue, service_account: claimValue }).strict();

const spiffeId = z
  .string()
  .max(2048)
  .regex(/^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, "a SPIFFE ID: spiffe://<trust domain>/<path>, without query or fragment");

export const MappingRuleSchema = z
  .object({
    /** The agent a matching token authenticates as. */
    agent: agentId,
    github: githubMatch.optional(),
    kubernetes: kubernetesMatch.optional(),
    /** A SPIFFE JWT-SVID's `sub`, exactly. */
    spiffe_id: spiffeId.optional(),
    /** Any OIDC workload token: top-level claims, each exactly equal to a string. */
    claims: policyRecord(claimValue)
      .refine((c) => Object.keys(c).length > 0 && Object.keys(c).length <= 16, { message: "1 to 16 claims" })
      .optional(),
  })
  .strict()
  .refine((r) => [r.github, r.kubernetes, r.spiffe_id, r.claims].filter((m) => m !== undefined).length === 1, {
    message: "a rule has exactly one of github, kubernetes, spiffe_id, claims",
  });

export const TrustedIssuerSchema = z
  .object({
    /** The token's `iss`, exactly. A URL, so it can never be mistaken for an agent id (which signs its own assertions). */
    issuer: z.url().max(512),
    /** Where the issuer publishes its keys; `https:` (an `http:` URL only passes `policy:check` for local development). */
    jwks_uri: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .optional(),
    /** Or the keys themselves, for an issuer whose keys are not published (or the dev workload issuer). */
    jwks: z
      .object({ keys: z.array(issuerJwk).min(1).max(20) })
      .strict()
      .optional(),
    /** What the token's `aud` must name (one of these): this broker, as the workload platform was told to address it. */
    audience: z.union([claimValue, z.array(claimValue).min(1).max(10)]).transform((a) => (Array.isArray(a) ? a : [a])),
    algorithms: z.array(z.enum(WORKLOAD_ALGORITHMS)).min(1).default(["RS256", "ES256"]),
    /** Measured from `iat`, which the token must carry; `exp` must also still be in the future. */
    max_token_age_seconds: z.number().int().min(30).max(MAX_WORKLOAD_TOKEN_AGE_SECONDS).default(DEFAULT_WORKLOAD_TOKEN_AGE_SECONDS),
    /**
     * `reuse` (default): a workload token may be exchanged again until it expires, as its platform means it to be
     * used. `single_use`: its `jti` (which it must then carry) is burnt, like an agent's own assertion.
     */
    replay: z.enum(["reuse", "single_use"]).default("reuse"),
    /** Tried in order; the first rule whose every pinned claim matches names the agent. */
    rules: z.array(MappingRuleSchema).min(1).max(MAX_RULES_PER_ISSUER),
  })
  .strict()
  .superRefine((issuer, ctx) => {
    if ((issuer.jwks_uri === undefined) === (issuer.jwks === undefined))
      ctx.addIssue({ code: "custom", path: ["jwks_uri"], message: "give exactly one of jwks_uri and jwks" });
  });

export const TrustedIssuersSchema = z
  .array(TrustedIssuerSchema)
  .max(MAX_TRUSTED_ISSUERS)
  .superRefine((issuers, ctx) => {
    const seen = new Set<string>();
    issuers.forEach((issuer, i) => {
      if (seen.has(issuer.issuer)) ctx.addIssue({ code: "custom", path: [i, "issuer"], message: `duplicate issuer "${issuer.issuer}"` });
      seen.add(issuer.issuer);
    });
  });

export type TrustedIssuer = z.infer<typeof TrustedIssuerSchema>;
export type MappingRule = z.infer<typeof MappingRuleSchema>;

/**
 * Whether a JWKS URL may be fetched outside local development: only over TLS. `policy:check` refuses the policy
 * otherwise (unless told it is checking a local-dev policy), and so does the broker when it is not in local dev.
 *
 * @example insecureJwksUris(policy.trusted_issuers) // ["trusted_issuers[0].jwks_uri: http://… is not https"]
 */
export function insecureJwksUris(issuers: readonly Pick<TrustedIssuer, "jwks_uri">[]): string[] {
  return issuers.flatMap((issuer, i) =>
    issuer.jwks_uri !== undefined && !issuer.jwks_uri.startsWith("https://")
      ? [`trusted_issuers[${i}].jwks_uri: ${issuer.jwks_uri} is not https (allowed for local development only)`]
      : [],
  );
}
