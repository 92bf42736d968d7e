import { z } from "zod";
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from "../schemas/signing-keys.ts";
import type { WritEnv } from "./env.ts";

export type Config = {
  issuer: string;
  tokenEndpoint: string;
  signingAlg: SigningAlgorithm;
  devSigningKeyAllowed: boolean;
  /** Base URL of approval and enrolment links. */
  approvalOrigin: string;
  approvalFrom: string;
  devOutbox: boolean;
};

const baseUrl = z.url({ protocol: /^https?$/ }).refine((url) => !url.endsWith("/") && !url.includes("?") && !url.includes("#"), {
  message: "must be a base URL without trailing slash, query or fragment",
});

const ConfigSchema = z.object({
  ISSUER: baseUrl,
  APPROVAL_ORIGIN: baseUrl.optional(),
  APPROVAL_FROM: z.email().default("writ@writ.example.com"),
  DEV_OUTBOX: z.enum(["true", "false"]).default("false"),
  SIGNING_ALG: z.enum(SIGNING_ALGORITHMS).default("ES256"),
  DEV_SIGNING_KEY_ALLOWED: z.enum(["true", "false"]).default("false"),
});

const cache = new WeakMap<object, Config>();

/** Misconfiguration throws (a 500 and a loud log line), it is never blamed on the client. */
export function readConfig(env: WritEnv): Config {
  let config = cache.get(env);
  if (config) return config;
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success)
    throw new Error(`Writ misconfigured: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const issuer = parsed.data.ISSUER;
  config = {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    signingAlg: parsed.data.SIGNING_ALG,
    devSigningKeyAllowed: parsed.data.DEV_SIGNING_KEY_ALLOWED === "true",
    approvalOrigin: parsed.data.APPROVAL_ORIGIN ?? issuer,
    approvalFrom: parsed.data.APPROVAL_FROM,
    devOutbox: parsed.data.DEV_OUTBOX === "true",
  };
  cache.set(env, config);
  return config;
}
