import type { Context } from "hono";
import type { CompiledPolicy } from "../../core/policy/compile-policy.ts";
import { fail, ok, type Result } from "../../core/refusals.ts";
import { switchOff, switchOn } from "../agents/kill-switch.ts";
import type { AppEnv } from "../app-env.ts";
import { note } from "../audit/note.ts";
import { nowOf } from "../http/request-context.ts";

/** The longest reason an admin can give for a switch; the audit record's detail holds 256 characters. */
export const SWITCH_REASON_MAX = 200;

export type SwitchDirection = "off" | "on";
export type Switched = { agent: string; disabled: boolean; cancelled: number };

/**
 * The kill switch as an admin throws it, for the JSON API (`POST /admin/agents/:id/disable|enable`) and the admin
 * page's buttons alike, so both leave the same audit record: `admin_action` with decision `agent_disabled` or
 * `agent_enabled`, the agent, and in the detail who did it and, when given, why. The caller has authenticated
 * the admin (and, for a browser's ambient credential, checked that the request came from the broker's own page).
 *
 * @example
 * const switched = await switchAgent(c, activePolicy, "billing-agent", "off", "leaked key, investigating");
 * if (!switched.ok) return refuse(c, switched.reason);
 */
export async function switchAgent(
  c: Context<AppEnv>,
  policy: CompiledPolicy,
  agentId: string,
  direction: SwitchDirection,
  reason?: string,
): Promise<Result<Switched>> {
  if (!policy.agents.has(agentId)) return fail({ code: "unknown_agent" });
  const now = nowOf(c).getTime();
  const { cancelled } = direction === "off" ? await switchOff(c.env, agentId, now) : await switchOn(c.env, agentId, now);
  note(c, { agent: agentId, decision: direction === "off" ? "agent_disabled" : "agent_enabled", ...switchDetail(c, reason) });
  return ok({ agent: agentId, disabled: direction === "off", cancelled });
}

/**
 * The audit detail of a switch with a reason: who (as the record says it without one, `admin=<who>`) and why.
 * Without a reason the record keeps its usual `admin=<who>` detail.
 */
function switchDetail(c: Context<AppEnv>, reason: string | undefined): { detail?: string } {
  const why = reason?.replace(/\s+/g, " ").trim().slice(0, SWITCH_REASON_MAX);
  if (!why) return {};
  const admin = (c.get("admin") as string | undefined) ?? "unknown";
  return { detail: `admin=${admin}; reason: ${why}` };
}
