import { tally } from "../../core/approvals/quorum.ts";
import { type BudgetRule, budgetRules } from "../../core/budgets/budget-rules.ts";
import type { CompiledPolicy } from "../../core/policy/compile-policy.ts";
import type { AgentSummary } from "../../durable-objects/agent-ledger.ts";
import type { AuditEventType, AuditRecord } from "../../schemas/audit.ts";
import type { Agent } from "../../schemas/policy.ts";

/**
 * What the admin page shows, computed from plain data: the policy, each agent's ledger summary and audit records.
 * Pure, with `now` passed in (epoch ms), so the rules of "what counts as pending" are unit-tested without a runtime.
 */

export type AgentStatus = "active" | "disabled_by_policy" | "switched_off";

export type AgentRow = {
  id: string;
  name: string;
  owner: string | undefined;
  status: AgentStatus;
  useCases: string[];
  budgets: { name: string; remaining: number; of: number }[];
  /** Open approval requests as the agent's ledger counts them (the authoritative number). */
  openApprovals: number;
  /** Tokens in the ledger's recent list (it keeps at most RECENT_TOKENS_SHOWN), and when the latest was issued. */
  recentTokens: number;
  lastTokenAt: number | undefined;
};

export type PendingRow = {
  approvalId: string;
  agent: string;
  useCase: string;
  intent: string | undefined;
  requestedAt: number;
  expiresAt: number;
  approvedBy: string[];
  quorum: number;
};

export type DecisionRow = Pick<
  AuditRecord,
  "ts" | "type" | "agent" | "use_case" | "decision" | "reason" | "detail" | "approver" | "approval_id" | "intent" | "status"
>;

/** The ledger's summary lists the latest 20 tokens; more than that shows as "20+". */
export const RECENT_TOKENS_SHOWN = 20;

/** Every budget rule that can apply to an agent: its own and those of each use case it may ask for, once each by name. */
export function agentRules(policy: CompiledPolicy, agent: Agent): BudgetRule[] {
  const useCases = [...policy.useCases.values()].filter((u) => u.agents.includes(agent.id));
  return [...new Map(useCases.flatMap((u) => budgetRules(agent, u)).map((r) => [r.name, r])).values()];
}

export function agentRow(policy: CompiledPolicy, agent: Agent, summary: AgentSummary): AgentRow {
  const rules = new Map(agentRules(policy, agent).map((r) => [r.name, r]));
  return {
    id: agent.id,
    name: agent.name,
    owner: agent.owner,
    status: agent.status !== "active" ? "disabled_by_policy" : summary.disabled ? "switched_off" : "active",
    useCases: [...policy.useCases.values()].filter((u) => u.agents.includes(agent.id)).map((u) => u.id),
    budgets: summary.remaining.map(({ budget, remaining }) => {
      const rule = rules.get(budget);
      return { name: budget, remaining, of: rule === undefined ? remaining : rule.kind === "daily" ? rule.cap : rule.burst };
    }),
    openApprovals: summary.openApprovals,
    recentTokens: summary.recent.length,
    lastTokenAt: summary.recent[0]?.issued_at,
  };
}

/** The longest time an approval request can stay open under this policy (ms): how far back pending requests can date. */
export function longestRequestTtlMs(policy: CompiledPolicy): number {
  const ttls = [...policy.useCases.values()].map((u) => u.approval?.request_ttl_seconds ?? 0);
  return Math.max(0, ...ttls) * 1000;
}

export type PendingInput = {
  policy: CompiledPolicy;
  /** `ciba_request` records with decision `approval_requested`, and `approval_decision` records, of the last request TTL. */
  records: readonly AuditRecord[];
  /** Open requests per agent as its ledger counts them; agents missing here have none. */
  ledgerOpen: ReadonlyMap<string, number>;
  now: number;
};

export type PendingResult = {
  rows: PendingRow[];
  /** Requests the ledgers count as open that the audit trail does not describe (e.g. an audit write that failed). */
  undescribed: number;
};

/**
 * Pending approval requests, rebuilt from the audit trail: every request opened within its TTL, minus those whose
 * recorded votes already settle it (any deny, or the quorum and every group minimum met). The agent's ledger has
 * the final word on how many are open: it also knows about the kill switch and requests it closed for other
 * reasons, so an agent shows at most as many (the newest) as its ledger counts.
 */
export function pendingApprovals({ policy, records, ledgerOpen, now }: PendingInput): PendingResult {
  const votes = new Map<string, { approver: string; decision: "approve" | "deny" }[]>();
  for (const r of records) {
    if (r.type !== "approval_decision" || !r.approval_id || !r.approver || !succeeded(r)) continue;
    if (r.decision !== "approve" && r.decision !== "deny") continue;
    votes.set(r.approval_id, [...(votes.get(r.approval_id) ?? []), { approver: r.approver, decision: r.decision }]);
  }
  const opened = new Map<string, AuditRecord>();
  for (const r of records) {
    if (r.type !== "ciba_request" || r.decision !== "approval_requested" || !r.approval_id || !r.agent || !succeeded(r)) continue;
    // A repeated identical request answers with the same id: the first one opened it.
    const first = opened.get(r.approval_id);
    if (!first || r.ts < first.ts) opened.set(r.approval_id, r);
  }
  const byAgent = new Map<string, PendingRow[]>();
  for (const [approvalId, r] of opened) {
    const agent = r.agent as string;
    const settings = policy.useCases.get(r.use_case ?? "")?.approval;
    if (!settings) continue;
    const expiresAt = r.ts + settings.request_ttl_seconds * 1000;
    const cast = votes.get(approvalId) ?? [];
    if (expiresAt <= now || tally(settings, cast) !== "pending") continue;
    byAgent.set(agent, [
      ...(byAgent.get(agent) ?? []),
      {
        approvalId,
        agent,
        useCase: r.use_case as string,
        intent: r.intent,
        requestedAt: r.ts,
        expiresAt,
        approvedBy: cast.filter((v) => v.decision === "approve").map((v) => v.approver),
        quorum: settings.quorum,
      },
    ]);
  }
  const rows: PendingRow[] = [];
  let undescribed = 0;
  for (const [agent, open] of ledgerOpen) {
    const described = (byAgent.get(agent) ?? []).sort((a, b) => b.requestedAt - a.requestedAt).slice(0, open);
    rows.push(...described);
    undescribed += open - described.length;
  }
  return { rows: rows.sort((a, b) => a.expiresAt - b.expiresAt), undescribed };
}

const DECISION_TYPES: ReadonlySet<AuditEventType> = new Set([
  "token_request",
  "ciba_request",
  "ciba_poll",
  "approval_decision",
  "usage_report",
  "revocation",
  "admin_action",
  "admin_auth_failure",
  "key_report",
]);
/** An agent polling a pending request every few seconds is not a decision worth a row. */
const POLL_NOISE = new Set(["authorization_pending", "slow_down"]);
/** Admin reads (the audit API, this page) are audited but decide nothing. */
const ADMIN_READS = new Set(["ok", "sign_in_required"]);

/** Whether an audit record is a decision an admin wants to see: grants, refusals, votes, kill switches, failed sign-ins. */
export function isDecision(record: Pick<AuditRecord, "type" | "decision" | "reason">): boolean {
  if (!DECISION_TYPES.has(record.type)) return false;
  if (record.type === "ciba_poll") return !POLL_NOISE.has(record.reason ?? "");
  if (record.type === "admin_action") return !ADMIN_READS.has(record.decision ?? "ok");
  return true;
}

/** The newest `limit` decisions at or after `since`, newest first. */
export function recentDecisions(records: readonly AuditRecord[], since: number, limit: number): DecisionRow[] {
  return records
    .filter((r) => r.ts >= since && isDecision(r))
    .sort((a, b) => b.ts - a.ts || b.seq - a.seq)
    .slice(0, limit)
    .map(({ ts, type, agent, use_case, decision, reason, detail, approver, approval_id, intent, status }) => ({
      ts,
      type,
      agent,
      use_case,
      decision,
      reason,
      detail,
      approver,
      approval_id,
      intent,
      status,
    }));
}

function succeeded(record: Pick<AuditRecord, "status">): boolean {
  return record.status === undefined || record.status < 400;
}
