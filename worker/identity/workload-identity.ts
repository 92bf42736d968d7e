import {
  type CompiledIssuer,
  compileFederation,
  type Federation,
  type FederationResult,
  verifyWorkloadToken,
} from "../../core/identity/federation.ts";
import type { CompiledPolicy } from "../../core/policy/compile-policy.ts";
import { remoteJwks } from "./remote-jwks.ts";

// Compiled once per policy object (so once per isolate in production; a test's own policy gets its own).
const compiled = new WeakMap<CompiledPolicy, Federation>();

/** The policy's trusted workload issuers, by `iss`. */
export function federationOf(policy: CompiledPolicy): Federation {
  let federation = compiled.get(policy);
  if (federation === undefined) {
    federation = compileFederation(policy.document.trusted_issuers);
    compiled.set(policy, federation);
  }
  return federation;
}

/** Verifies a workload token from `trusted` with its inline keys or its remote key set (cached per isolate). */
export function verifyFederated(jwt: string, trusted: CompiledIssuer, now: Date): Promise<FederationResult> {
  const getKey = trusted.keys.kind === "inline" ? trusted.keys.getKey : remoteJwks(trusted.keys.jwksUri);
  return verifyWorkloadToken(jwt, trusted, getKey, now);
}
