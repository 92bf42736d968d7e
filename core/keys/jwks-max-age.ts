/**
 * How long verifiers may cache the JWKS. Well under the shortest token TTL (30 s is the policy minimum,
 * 300 s the default): a newly published `next` key reaches every verifier within this time, which is how
 * long an operator waits before promoting it.
 */
export const JWKS_MAX_AGE_SECONDS = 60;
