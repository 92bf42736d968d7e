import { Hono } from "hono";
import { budgetRules } from "../../core/budgets/budget-rules.ts";
import { switchAgent } from "../admin/agent-switch.ts";
import type { AppEnv } from "../app-env.ts";
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

  // The admin page's buttons throw the same switch (worker/admin/agent-switch.ts), so both leave the same record.
  for (const [action, direction] of [
    ["disable", "off"],
    ["enable", "on"],
  ] as const) {
    routes.post(`/admin/agents/:id/${action}`, async (c) => {
      const switched = await switchAgent(c, activePolicy, c.req.param("id"), direction);
      if (!switched.ok) return refuse(c, switched.reason);
      const { agent, disabled, cancelled } = switched.value;
      return c.json({ agent, disabled, cancelled_approvals: cancelled }, 200, { "Cache-Control": "no-store" });
    });
  }

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
