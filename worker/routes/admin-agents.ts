import { Hono } from "hono";
import { budgetRules } from "../../core/budgets/budget-rules.ts";
import { switchOff, switchOn } from "../agents/kill-switch.ts";
import type { AppEnv } from "../app-env.ts";
import { note } from "../audit/note.ts";
import { refuse } from "../http/refuse.ts";
import { nowOf } from "../http/request-context.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { activePolicy } from "../policy/active-policy.ts";

/**
 * /admin/agents: the kill switch and an agent's state. Disabling takes effect on the agent's next request
 * everywhere (its ledger is the one place every token passes through), cancels its pending and approved
 * requests and makes every token it holds inactive at /introspect (`agents/kill-switch.ts`).
 */
export function adminAgentRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use("/admin/agents/*", adminAuth());

  routes.post("/admin/agents/:id/disable", async (c) => {
    const agentId = c.req.param("id");
    if (!activePolicy.agents.has(agentId)) return refuse(c, { code: "unknown_agent" });
    const { cancelled } = await switchOff(c.env, agentId, nowOf(c).getTime());
    note(c, { agent: agentId, decision: "agent_disabled" });
    return c.json({ agent: agentId, disabled: true, cancelled_approvals: cancelled }, 200, { "Cache-Control": "no-store" });
  });

  routes.post("/admin/agents/:id/enable", async (c) => {
    const agentId = c.req.param("id");
    if (!activePolicy.agents.has(agentId)) return refuse(c, { code: "unknown_agent" });
    const { cancelled } = await switchOn(c.env, agentId, nowOf(c).getTime());
    note(c, { agent: agentId, decision: "agent_enabled" });
    return c.json({ agent: agentId, disabled: false, cancelled_approvals: cancelled }, 200, { "Cache-Control": "no-store" });
  });

  routes.get("/admin/agents/:id", async (c) => {
    const agent = activePolicy.agents.get(c.req.param("id"));
    if (!agent) return refuse(c, { code: "unknown_agent" });
    const useCases = [...activePolicy.useCases.values()].filter((u) => u.agents.includes(agent.id));
    const rules = [...new Map(useCases.flatMap((u) => budgetRules(agent, u)).map((r) => [r.name, r])).values()];
    const summary = await c.env.AGENT_LEDGER.getByName(agent.id).summary(rules, nowOf(c).getTime());
    return c.json(
      {
        agent: agent.id,
        name: agent.name,
        owner: agent.owner,
        policy_status: agent.status,
        disabled: summary.disabled || agent.status !== "active",
        use_cases: useCases.map((u) => u.id),
        budgets: summary.remaining,
        open_approvals: summary.openApprovals,
        recent_tokens: summary.recent,
      },
      200,
      { "Cache-Control": "no-store" },
    );
  });
  return routes;
}
