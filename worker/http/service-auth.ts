import { z } from "zod";
import { sameSecret } from "../../lib/crypto.ts";
import type { WritEnv } from "../env.ts";
import { bearerToken } from "./bearer.ts";

/** SERVICE_CREDENTIALS secret: `{"<service audience>": "<bearer secret>"}`. */
const ServiceCredentialsSchema = z.record(
  z.string().min(1),
  // RFC 6750 §2.1 token68 characters: anything else could never be presented as a bearer credential.
  z.string().regex(/^[A-Za-z0-9\-._~+/]{16,}=*$/, "at least 16 characters of A-Z a-z 0-9 - . _ ~ + /"),
);

export type Caller = { kind: "admin" } | { kind: "service"; audience: string };

/**
 * Who is calling /introspect or /revoke (RFC 7662 §2.1, RFC 7009 §2.1: the caller must be authorised):
 * the admin, or a downstream service with its own credential, which only sees tokens issued for it.
 */
export async function authenticateCaller(env: WritEnv, authorization: string | undefined): Promise<Caller | undefined> {
  const presented = bearerToken(authorization);
  if (presented === undefined) return undefined;
  if (env.ADMIN_TOKEN && (await sameSecret(presented, env.ADMIN_TOKEN))) return { kind: "admin" };
  if (!env.SERVICE_CREDENTIALS) return undefined;
  const parsed = ServiceCredentialsSchema.safeParse(safeJson(env.SERVICE_CREDENTIALS));
  if (!parsed.success)
    throw new Error("Writ misconfigured: SERVICE_CREDENTIALS must be a JSON object of audience → secret (16+ token68 characters)");
  // Every entry is compared, so timing does not tell which services exist.
  let match: string | undefined;
  for (const [audience, secret] of Object.entries(parsed.data))
    if ((await sameSecret(presented, secret)) && match === undefined) match = audience;
  return match === undefined ? undefined : { kind: "service", audience: match };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
