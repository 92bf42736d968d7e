// The policy file is chosen at build time: wrangler.toml's [alias] maps "writ-policy" to a JSON file.
import policyDocument from "writ-policy";
import { devWorkloadIssuerProblems } from "../../core/identity/federation-dev-issuer.ts";
import { type CompiledPolicy, compilePolicy } from "../../core/policy/compile-policy.ts";
import { insecureJwksUris } from "../../schemas/trusted-issuer.ts";

/** Compiled once per isolate; an invalid policy throws here, so a broken deploy fails loudly at startup. */
export const activePolicy: CompiledPolicy = compilePolicy(policyDocument);

/**
 * What only local development may trust: the dev workload issuer (its private key is in the repository) and JWKS
 * fetched without TLS. `writ policy check` refuses both before a deploy, but an inherited `WRIT_ALLOW_DEMO_KEYS=1` or a
 * plain `wrangler deploy` skips that check, so the broker refuses them too.
 */
const devOnlyTrust = devOnlyTrustOf(activePolicy);

/**
 * The policy an OAuth request is decided under. Outside local development (DEV_OUTBOX off) a policy trusting what only
 * local development may trust is a misconfiguration: it throws (a 500 and a loud log line), like a bad setting, rather
 * than quietly letting anyone who has read the repository mint workload tokens.
 *
 * @example const policy = policyFor(configOf(c).devOutbox);
 */
export function policyFor(localDevelopment: boolean, policy: CompiledPolicy = activePolicy): CompiledPolicy {
  const problems = policy === activePolicy ? devOnlyTrust : devOnlyTrustOf(policy);
  if (!localDevelopment && problems.length > 0)
    throw new Error(`Writ misconfigured: outside local development the policy may not trust ${problems.join("; ")}`);
  return policy;
}

function devOnlyTrustOf(policy: CompiledPolicy): string[] {
  const issuers = policy.document.trusted_issuers;
  return [...devWorkloadIssuerProblems(issuers), ...insecureJwksUris(issuers)];
}
