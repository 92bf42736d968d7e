import type { Context } from "hono";
import { budgetRules } from "../../core/budgets/budget-rules.ts";
import { log } from "../../lib/log.ts";
import { DAY_MS } from "../../lib/time.ts";
import { UsageReportSchema } from "../../schemas/usage.ts";
import { switchedOff } from "../agents/kill-switch.ts";
import type { AppEnv } from "../app-env.ts";
import { note } from "../audit/note.ts";
import { readJsonBody } from "../http/read-json.ts";
import { refuse } from "../http/refuse.ts";
import { configOf, nowOf } from "../http/request-context.ts";
import { authenticateCaller } from "../http/service-auth.ts";
import { activePolicy } from "../policy/active-policy.ts";
import { activeKeys } from "../tokens/signing-keys.ts";
import { verifyIssuedToken } from "../tokens/verify-issued-token.ts";

const MAX_USAGE_BYTES = 16 * 1024;
/** The ledger keeps issued tokens for a day; reports later than that have nothing to adjust. */
const USAGE_WINDOW_SECONDS = DAY_MS / 1000;

/**
 * POST /usage (JSON): the service a token was issued for reports what the token really consumed, authenticated by
 * its service credential (`SERVICE_CREDENTIALS`) with the token in the body; the token's `aud` must be that service.
 * Once per token: a repeated report changes nothing. Units beyond the token's limits are flagged, and disable the
 * agent where the policy says `disable_on_overuse`.
 *
 * Neither the token itself nor the admin token is accepted as the credential. A report rewrites what the token cost
 * against the agent's daily caps and can trip its kill switch: the agent reporting `0` after every call would lift
 * its own caps, and anyone holding a leaked token could switch the agent off or spend the service's one report. The
 * admin saw none of the work a report testifies to, and has the kill switch itself.
 */
export async function usageRoute(c: Context<AppEnv>): Promise<Response> {
  const config = configOf(c);
  // The caller first: someone who is not a service learns nothing about the body it sent.
  const caller = await authenticateCaller(config, c.req.header("authorization"));
  if (caller?.kind !== "service") {
    if (caller?.kind === "admin") note(c, { detail: "admin_token" });
    return refuse(c, { code: "usage_service_required" });
  }
  const json = await readJsonBody(c.req.raw, MAX_USAGE_BYTES);
  if (!json.ok) return refuse(c, json.reason);
  const report = UsageReportSchema.safeParse(json.value);
  if (!report.success) return refuse(c, { code: "usage_report_invalid", path: report.error.issues[0]?.path.join(".") || "body" });
  const token = report.data.token;
  if (token === undefined) return refuse(c, { code: "missing_parameter", parameter: "token" });

  const now = nowOf(c);
  // A service reports after the work is done, possibly after the token expired: accepted within the usage window.
  const claims = await verifyIssuedToken(token, await activeKeys(c.env, config), config.issuer, now, USAGE_WINDOW_SECONDS);
  // A token of another service gets the same answer as a forged one: a service learns nothing about others' tokens.
  if (!claims || claims.aud !== caller.audience) return refuse(c, { code: "usage_token_invalid" });

  const agent = activePolicy.agents.get(claims.sub);
  const useCase = activePolicy.useCases.get(claims.scope);
  // The budgets a report adjusts are the token's own: its agent's and its use case's daily caps.
  const rules = agent && useCase ? budgetRules(agent, useCase) : [];
  const result = await c.env.AGENT_LEDGER.getByName(claims.sub).reportUsage(
    claims.jti,
    report.data.units,
    rules,
    agent?.disable_on_overuse ?? false,
    now.getTime(),
  );
  note(c, { agent: claims.sub, use_case: claims.scope, token_jti: claims.jti });
  if (!result.ok) {
    if (result.reason === "already_reported") return c.json({ status: "already_reported" }, 200, { "Cache-Control": "no-store" });
    return refuse(c, { code: "usage_token_unknown" });
  }
  // Tripped kill switch: the agent's pending approvals go too, as with an admin's disable.
  if (result.disabled) await switchedOff(c.env, claims.sub, result.openApprovals, now.getTime(), "usage_overuse");
  if (result.overLimit.length > 0)
    log("warn", "usage_over_limit", {
      agent: claims.sub,
      use_case: claims.scope,
      token_jti: claims.jti,
      units: result.overLimit.join(","),
      disabled: result.disabled,
    });
  note(c, { decision: "usage_recorded", over_limit: result.overLimit.join(",") || undefined });
  return c.json({ status: "recorded", over_limit: result.overLimit, agent_disabled: result.disabled }, 200, {
    "Cache-Control": "no-store",
  });
}
