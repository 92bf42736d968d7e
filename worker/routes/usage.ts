import type { Context } from "hono";
import { budgetRules } from "../../core/budgets/budget-rules.ts";
import { log } from "../../lib/log.ts";
import { UsageReportSchema } from "../../schemas/usage.ts";
import type { AppEnv } from "../app-env.ts";
import { readConfig } from "../config.ts";
import { bearerToken } from "../http/bearer.ts";
import { readCapped } from "../http/read-form.ts";
import { authenticateCaller } from "../http/service-auth.ts";
import { activePolicy } from "../policy/active-policy.ts";
import { activeKeys } from "../tokens/signing-keys.ts";
import { verifyIssuedToken } from "../tokens/verify-issued-token.ts";
import { oauthRefusal } from "./oauth-refusal.ts";

const MAX_USAGE_BYTES = 16 * 1024;
/** The ledger keeps issued tokens for a day; reports later than that have nothing to adjust. */
const USAGE_WINDOW_SECONDS = 24 * 60 * 60;

/**
 * POST /usage (JSON): a service reports what a token really consumed, authenticated by that very token
 * (`Authorization: Bearer <access token>`) or by its service credential with the token in the body. Once per
 * token: a repeated report changes nothing. Units beyond the token's limits are flagged, and disable the
 * agent where the policy says `disable_on_overuse`.
 */
export async function usageRoute(c: Context<AppEnv>): Promise<Response> {
  if (c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase() !== "application/json")
    return oauthRefusal(c, 400, "invalid_request", "Content-Type must be application/json");
  const text = await readCapped(c.req.raw, MAX_USAGE_BYTES);
  if (typeof text !== "string")
    return oauthRefusal(c, 400, "invalid_request", `body must be UTF-8 JSON of at most ${MAX_USAGE_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return oauthRefusal(c, 400, "invalid_request", "body is not JSON");
  }
  const report = UsageReportSchema.safeParse(json);
  if (!report.success)
    return oauthRefusal(c, 400, "invalid_request", `invalid usage report: ${report.error.issues[0]?.path.join(".") || "body"}`);

  const config = readConfig(c.env);
  const authorization = c.req.header("authorization");
  const caller = await authenticateCaller(c.env, authorization);
  const token = caller ? report.data.token : bearerToken(authorization);
  if (!token)
    return oauthRefusal(c, 401, "invalid_token", "present the access token as bearer, or a service credential and the token in the body");
  // A service reports after the work is done, possibly after the token expired: accepted within the usage window.
  const claims = await verifyIssuedToken(token, await activeKeys(c.env, config), config.issuer, new Date(), USAGE_WINDOW_SECONDS);
  if (!claims || (caller?.kind === "service" && claims.aud !== caller.audience))
    return oauthRefusal(c, 401, "invalid_token", "the token is not a valid token of this broker for this service");

  const agent = activePolicy.agents.get(claims.sub);
  const useCase = activePolicy.useCases.get(claims.scope);
  // The budgets a report adjusts are the token's own: its agent's and its use case's daily caps.
  const rules = agent && useCase ? budgetRules(agent, useCase) : [];
  const result = await c.env.AGENT_LEDGER.getByName(claims.sub).reportUsage(
    claims.jti,
    report.data.units,
    rules,
    agent?.disable_on_overuse ?? false,
    Date.now(),
  );
  const outcome = c.get("outcome");
  Object.assign(outcome, { agent: claims.sub, use_case: claims.scope, token_jti: claims.jti });
  if (!result.ok) {
    if (result.reason === "already_reported") return c.json({ status: "already_reported" }, 200, { "Cache-Control": "no-store" });
    return oauthRefusal(c, 404, "invalid_token", "no record of this token (older than the usage window)");
  }
  // Tripped kill switch: the agent's pending approvals go too, as with an admin's disable.
  await Promise.all(result.openApprovals.map((id) => c.env.APPROVAL_REQUEST.getByName(id).cancel(Date.now())));
  if (result.overLimit.length > 0)
    log("warn", "usage_over_limit", {
      agent: claims.sub,
      use_case: claims.scope,
      token_jti: claims.jti,
      units: result.overLimit.join(","),
      disabled: result.disabled,
    });
  Object.assign(outcome, { decision: "usage_recorded", over_limit: result.overLimit.join(",") || undefined });
  return c.json({ status: "recorded", over_limit: result.overLimit, agent_disabled: result.disabled }, 200, {
    "Cache-Control": "no-store",
  });
}
