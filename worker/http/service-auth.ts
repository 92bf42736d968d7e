import { sameSecret } from "../../lib/crypto.ts";
import type { Config } from "../config.ts";
import { bearerToken } from "./bearer.ts";

export type Caller = { kind: "admin" } | { kind: "service"; audience: string };

/**
 * Who is calling /introspect, /revoke or /usage (RFC 7662 §2.1, RFC 7009 §2.1: the caller must be authorised):
 * the admin, or a downstream service with its own credential, which only sees tokens issued for it.
 */
export async function authenticateCaller(config: Config, authorization: string | undefined): Promise<Caller | undefined> {
  const presented = bearerToken(authorization);
  if (presented === undefined) return undefined;
  if (config.adminToken && (await sameSecret(presented, config.adminToken))) return { kind: "admin" };
  // Every entry is compared, so timing does not tell which services exist.
  let match: string | undefined;
  for (const [audience, secret] of config.serviceCredentials)
    if ((await sameSecret(presented, secret)) && match === undefined) match = audience;
  return match === undefined ? undefined : { kind: "service", audience: match };
}
