import * as z from "zod";
import { auditRetentionDays } from "../durable-objects/audit-log.ts";
import { parseJson } from "../lib/json.ts";
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from "../schemas/signing-keys.ts";
import { type AccessSettings, accessSettings } from "./approvals/access-jwt.ts";
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
  /** The admin bearer secret; undefined when unset. */
  adminToken: string | undefined;
  /** Audience → bearer secret of each downstream service (/introspect, /revoke, /usage). */
  serviceCredentials: ReadonlyMap<string, string>;
  /** Access in front of the approval pages (ACCESS_TEAM_DOMAIN + ACCESS_AUD). */
  approverAccess: AccessSettings | undefined;
  /** Access in front of the admin API (ACCESS_TEAM_DOMAIN + ADMIN_ACCESS_AUD) and who may use it (ADMIN_EMAILS, lower-cased). */
  adminAccess: { settings: AccessSettings; emails: ReadonlySet<string> } | undefined;
  auditRetentionDays: number;
  /**
   * Concurrent token requests of one agent share one ledger round trip (worker/grants/ledger-issue.ts). On unless
   * LEDGER_BATCHING is "off", which only the workers test pool sets: it runs the broker's requests inside a Durable
   * Object, where one request's promise cannot wake another's.
   */
  ledgerBatching: boolean;
};

const baseUrl = z.url({ protocol: /^https?$/ }).refine((url) => !url.endsWith("/") && !url.includes("?") && !url.includes("#"), {
  message: "must be a base URL without trailing slash, query or fragment",
});

/** SERVICE_CREDENTIALS: `{"<service audience>": "<bearer secret>"}`. */
const ServiceCredentialsSchema = z.record(
  z.string().min(1),
  // RFC 6750 §2.1 token68 characters: anything else could never be presented as a bearer credential.
  z.string().regex(/^[A-Za-z0-9\-._~+/]{16,}=*$/, "at least 16 characters of A-Z a-z 0-9 - . _ ~ + /"),
);

const jsonOf = <S extends z.ZodType>(schema: S) =>
  z
    .string()
    .transform((text, ctx) => {
      const parsed = parseJson(text);
      if (!parsed.ok) {
        ctx.addIssue({ code: "custom", message: "is not JSON" });
        return z.NEVER;
      }
      return parsed.value;
    })
    .pipe(schema);

const optionalText = z
  .string()
  .optional()
  .transform((value) => value?.trim() || undefined);

const ConfigSchema = z.object({
  ISSUER: baseUrl,
  APPROVAL_ORIGIN: baseUrl.optional(),
  APPROVAL_FROM: z.email().default("writ@writ.example.com"),
  DEV_OUTBOX: z.enum(["true", "false"]).default("false"),
  SIGNING_ALG: z.enum(SIGNING_ALGORITHMS).default("ES256"),
  DEV_SIGNING_KEY_ALLOWED: z.enum(["true", "false"]).default("false"),
  LEDGER_BATCHING: z.enum(["on", "off"]).default("on"),
  // Compared byte for byte, never trimmed: an empty value counts as unset.
  ADMIN_TOKEN: z
    .string()
    .optional()
    .transform((value) => value || undefined),
  SERVICE_CREDENTIALS: jsonOf(ServiceCredentialsSchema).optional(),
  ACCESS_TEAM_DOMAIN: optionalText,
  ACCESS_AUD: optionalText,
  ADMIN_ACCESS_AUD: optionalText,
  ADMIN_EMAILS: optionalText,
});

/** The bindings readConfig reads: plain variables and secrets. */
export type ConfigSource = Pick<WritEnv, "ISSUER"> &
  Partial<
    Pick<
      WritEnv,
      | "APPROVAL_ORIGIN"
      | "APPROVAL_FROM"
      | "DEV_OUTBOX"
      | "SIGNING_ALG"
      | "DEV_SIGNING_KEY_ALLOWED"
      | "LEDGER_BATCHING"
      | "ADMIN_TOKEN"
      | "SERVICE_CREDENTIALS"
      | "ACCESS_TEAM_DOMAIN"
      | "ACCESS_AUD"
      | "ADMIN_ACCESS_AUD"
      | "ADMIN_EMAILS"
      | "AUDIT_RETENTION_DAYS"
    >
  >;

const cache = new WeakMap<object, Config>();

/**
 * The one reader of the broker's settings and secrets (SIGNING_KEYS aside: `activeKeys` parses it once per isolate,
 * with the key import). Misconfiguration throws (a 500 and a loud log line on the
 * first request, and `npm run policy:check` reads the same rules), it is never blamed on the client and never
 * silently replaced by a default.
 */
export function readConfig(env: ConfigSource): Config {
  let config = cache.get(env);
  if (config) return config;
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success)
    throw new Error(`Writ misconfigured: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const vars = parsed.data;
  const issuer = vars.ISSUER;
  const adminAccessSettings = accessSettings({ ACCESS_TEAM_DOMAIN: vars.ACCESS_TEAM_DOMAIN, ACCESS_AUD: vars.ADMIN_ACCESS_AUD });
  const adminEmails = new Set(
    (vars.ADMIN_EMAILS ?? "")
      .split(",")
      .map((email) => email.trim().toLowerCase())
      .filter(Boolean),
  );
  config = {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    signingAlg: vars.SIGNING_ALG,
    devSigningKeyAllowed: vars.DEV_SIGNING_KEY_ALLOWED === "true",
    approvalOrigin: vars.APPROVAL_ORIGIN ?? issuer,
    approvalFrom: vars.APPROVAL_FROM,
    devOutbox: vars.DEV_OUTBOX === "true",
    ledgerBatching: vars.LEDGER_BATCHING === "on",
    adminToken: vars.ADMIN_TOKEN,
    serviceCredentials: new Map(Object.entries(vars.SERVICE_CREDENTIALS ?? {})),
    approverAccess: accessSettings({ ACCESS_TEAM_DOMAIN: vars.ACCESS_TEAM_DOMAIN, ACCESS_AUD: vars.ACCESS_AUD }),
    adminAccess: adminAccessSettings && adminEmails.size > 0 ? { settings: adminAccessSettings, emails: adminEmails } : undefined,
    // The AuditLog objects apply the same rule to the same variable; checking here makes a bad value fail at once.
    auditRetentionDays: auditRetentionDays(env.AUDIT_RETENTION_DAYS),
  };
  cache.set(env, config);
  return config;
}
