import * as z from "zod";
import { RequestedAuthorizationDetailsSchema } from "./authorization-details.ts";
import { MAX_CONTEXT_VALUE_CHARS } from "./policy.ts";

export const GRANT_TYPE = {
  tokenExchange: "urn:ietf:params:oauth:grant-type:token-exchange",
  clientCredentials: "client_credentials",
  ciba: "urn:openid:params:grant-type:ciba",
} as const;

export const CLIENT_ASSERTION_TYPE_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
export const TOKEN_TYPE = {
  jwt: "urn:ietf:params:oauth:token-type:jwt",
  accessToken: "urn:ietf:params:oauth:token-type:access_token",
} as const;

export const MAX_INTENT_CHARS = 500;

/** A JSON document carried in a form parameter (authorization_details, context). */
const jsonText = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .max(8192)
    .transform((text, ctx): unknown => {
      try {
        return JSON.parse(text);
      } catch {
        ctx.addIssue({ code: "custom", message: "is not valid JSON" });
        return z.NEVER;
      }
    })
    .pipe(schema);

/** Facts the policy's conditions check: flat and small, so an approver can read them and a log line can hold them. */
export const RequestContextSchema = z
  .record(z.string().min(1).max(64), z.union([z.string().max(MAX_CONTEXT_VALUE_CHARS), z.number(), z.boolean()]))
  .refine((context) => Object.keys(context).length <= 32, { message: "has more than 32 keys" });

/**
 * The /token form after parsing. Unknown parameters are dropped (RFC 6749 §3.2: the server MUST ignore them).
 * Which of these a grant needs is the grant's business, not this schema's.
 */
export const TokenRequestSchema = z.object({
  grant_type: z.string().min(1).max(256),
  client_id: z.string().min(1).max(128).optional(),
  client_assertion_type: z.string().max(256).optional(),
  client_assertion: z.string().min(1).max(8192).optional(),
  subject_token: z.string().min(1).max(8192).optional(),
  subject_token_type: z.string().max(256).optional(),
  actor_token: z.string().optional(),
  actor_token_type: z.string().optional(),
  requested_token_type: z.string().max(256).optional(),
  scope: z.string().min(1).max(1024).optional(),
  authorization_details: jsonText(RequestedAuthorizationDetailsSchema).optional(),
  resource: z.string().min(1).max(512).optional(),
  audience: z.string().min(1).max(512).optional(),
  intent: z.string().trim().min(1).max(MAX_INTENT_CHARS).optional(),
  context: jsonText(RequestContextSchema).optional(),
  /** CIBA poll (OpenID CIBA §10.1). */
  auth_req_id: z.string().min(1).max(256).optional(),
});

/**
 * POST /bc-authorize (OpenID CIBA §7.1): the same use-case parameters as /token, no grant_type. Hints that
 * name an end-user are accepted and ignored: the approvers come from the policy, never from the agent.
 *
 * `binding_message` is what the approver compares with the agent's screen (CIBA §7.1), so it must read the same
 * everywhere: control characters, line separators and format characters (`\p{Cf}`: bidi overrides, zero-width
 * joiners and spaces, which could make "BLUE-42" display as another code) are refused, not silently removed.
 */
export const BackchannelRequestSchema = TokenRequestSchema.omit({ grant_type: true, auth_req_id: true }).extend({
  binding_message: z
    .string()
    // Before trimming, which would silently drop a leading or trailing U+FEFF instead of refusing it.
    .regex(/^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]*$/u, "must be one line of plain text")
    .trim()
    .min(1)
    .max(128)
    .optional(),
});

export type TokenRequest = z.infer<typeof TokenRequestSchema>;
export type BackchannelRequest = z.infer<typeof BackchannelRequestSchema>;
export type RequestContext = z.infer<typeof RequestContextSchema>;
