import * as z from "zod";

/**
 * A leaked-key report (POST /keys/report): a JWT signed with an agent's private key by whoever found it, naming the
 * agent. It is a JWT of its own kind (RFC 8725 §3.11, explicit typing) with its own audience, so a report never
 * passes as a client assertion and a client assertion never as a report, although the same key signs both.
 *
 * Header: `typ` = KEY_REPORT_TYP, `alg` (ES256, EdDSA or Ed25519), `kid` (the reported key).
 * Claims: `sub` = the agent id, `aud` = `<ISSUER>/keys/report`, `iat`, `exp` (at most 5 minutes after `iat`), `jti`.
 */
export const KEY_REPORT_TYP = "writ-key-report+jwt";
export const KEY_REPORT_PATH = "/keys/report";

/**
 * Agent keys made by `npm run keygen -- --agent <id>` have key ids `writ-agent-<agent id>-<YYYY-MM-DD>-<8 hex>`,
 * so a secret scanner recognises a leaked one (a private JWK whose `kid` starts with this) and knows the agent to
 * name in its report.
 */
export const AGENT_KID_PREFIX = "writ-agent-";

/** A report is one compact JWS of a few hundred bytes; this only keeps an absurd parameter from reaching the verifier. */
const MAX_REPORT_CHARS = 8192;

/** The form body: `report=<jwt>` (application/x-www-form-urlencoded, like every other endpoint that takes a JWT). */
export const KeyReportFormSchema = z.object({ report: z.string().min(1).max(MAX_REPORT_CHARS) });
export type KeyReportForm = z.infer<typeof KeyReportFormSchema>;
