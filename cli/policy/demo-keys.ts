import { calculateJwkThumbprint, type JWK } from "jose";
import type { Policy } from "../../schemas/policy.ts";

/**
 * Every agent key of the policy whose private half is published in `policy/demo-agent-keys.json`: with one of
 * those registered, anyone who has read the repository can sign as that agent. Compared by RFC 7638 thumbprint,
 * so a renamed `kid` or a reordered JWK does not hide a demo key. One line per key, naming the field.
 *
 * @example
 * demoKeyProblems(policy.document, demoKeys) // ['agents[0].keys[0]: key "support-bot-1" is demo agent support-bot's published key: …']
 */
export async function demoKeyProblems(policy: Policy, demoKeys: Readonly<Record<string, JWK>>): Promise<string[]> {
  const demo = new Map<string, string>();
  for (const [owner, jwk] of Object.entries(demoKeys)) demo.set(await thumbprint(jwk), owner);
  const problems: string[] = [];
  for (const [a, agent] of policy.agents.entries()) {
    for (const [k, key] of agent.keys.entries()) {
      const owner = demo.get(await thumbprint(key));
      if (owner === undefined) continue;
      problems.push(`agents[${a}].keys[${k}]: key "${key.kid}" is demo agent ${owner}'s published key: anyone can sign as "${agent.id}"`);
    }
  }
  return problems;
}

/** Public members only, so the private and the public half of one key give the same thumbprint. */
function thumbprint(jwk: JWK): Promise<string> {
  const { kty, crv, x, y } = jwk;
  return calculateJwkThumbprint({ kty, crv, x, ...(y === undefined ? {} : { y }) } as JWK);
}
