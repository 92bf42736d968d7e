import type { Context } from "hono";
import { budgetRules } from "../../core/budgets/budget-rules.ts";
import { log } from "../../lib/log.ts";
import { DAY_MS } from "../../lib/time.ts";
import { UsageReportSchema } from "../../schemas/usage.ts";
import type { AppEnv } from "../app-env.ts";
import { note } from "../audit/note.ts";
import { bearerToken } from "../http/bearer.ts";
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
 * POST /usage (JSON): a service reports what a token really consumed, authenticated by that very token
 * (`Authorization: Bearer <access token>`) or by its service credential with the token in the body. Once per
 * token: a repeated report changes nothing. Units beyond the token's limits are flagged, and disable the
 * agent where the policy says `disable_on_overuse`.
 */
export async function usageRoute(c: Context<AppEnv>): Promise<Response> {
  const json = await readJsonBody(c.req.raw, MAX_USAGE_BYTES);
  if (!json.ok) return refuse(c, json.reason);
  const report = UsageReportSchema.safeParse(json.value);
  if (!report.success) return refuse(c, { code: "usage_report_invalid", path: report.error.issues[0]?.path.join(".") || "body" });

  const config = configOf(c);
  const now = nowOf(c);
  const authorization = c.req.header("authorization");
  const caller = await authenticateCaller(configOf(c), authorization);
  const token = caller ? report.data.token : bearerToken(authorization);
  if (!token) return refuse(c, { code: "usage_token_missing" });
  // A service reports after the work is done, possibly after the token expired: accepted within the usage window.
  const claims = await verifyIssuedToken(token, await activeKeys(c.env, config), config.issuer, now, USAGE_WINDOW_SECONDS);
  if (!claims || (caller?.kind === "service" && claims.aud !== caller.audience)) return refuse(c, { code: "usage_token_invalid" });

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
  await Promise.all(result.openApprovals.map((id) => c.env.APPROVAL_REQUEST.getByName(id).cancel(now.getTime())));
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
