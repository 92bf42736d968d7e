import type { NoiseTally } from "../../core/audit/noise.ts";
import { BROKER_SHARD_AGENT, shardsBetween } from "../../core/audit/shards.ts";
import type { CompiledPolicy } from "../../core/policy/compile-policy.ts";
import type { AuditFilter } from "../../durable-objects/audit-log.ts";
import { HOUR_MS, MINUTE_MS } from "../../lib/time.ts";
import type { AuditRecord } from "../../schemas/audit.ts";
import { noiseBetween } from "../audit/noise-trail.ts";
import type { WritEnv } from "../env.ts";
import {
  type AgentRow,
  agentRow,
  agentRules,
  type DecisionRow,
  longestRequestTtlMs,
  type PendingResult,
  pendingApprovals,
  recentDecisions,
} from "./overview.ts";
import { chartStart, type UsageChart, usageChart } from "./usage-chart.ts";

/** Newest decisions listed on the page. */
export const DECISIONS_SHOWN = 50;
/**
 * How far back the decision list looks, narrowed for a shard that holds more than one page in the wider window:
 * the page wants the newest events, and a shard reads oldest first.
 */
const DECISION_WINDOWS_MS = [24 * HOUR_MS, HOUR_MS, 5 * MINUTE_MS] as const;
const PAGE_SIZE = 500;
/** The most frequent reasons, networks and claimed agents of unauthenticated noise shown. */
export const NOISE_TOP_SHOWN = 5;
/** A bound on reading one busy shard (PAGE_SIZE × this many records). */
const MAX_PAGES = 20;

export type Overview = {
  now: number;
  agents: AgentRow[];
  pending: PendingResult;
  decisions: DecisionRow[];
  /** The decision list is complete from this time on (epoch ms); earlier only if every shard was quiet. */
  decisionsSince: number;
  /** Each agent's tokens and units per hour over the last day, by agent id. */
  usage: Map<string, UsageChart>;
  /** Requests refused before anyone was identified: counted, never listed among the decisions. */
  noise: { lastHour: NoiseTally; lastDay: NoiseTally };
};

/**
 * Everything the admin page shows, read in parallel: each agent's ledger summary (status, budgets, open requests)
 * and tokens per hour, and the audit shards of every agent and the broker (recent decisions, and the requests and votes of the
 * longest approval TTL for the pending list). Reads only.
 */
export async function loadOverview(env: WritEnv, policy: CompiledPolicy, now: number): Promise<Overview> {
  const agents = [...policy.agents.values()];
  const shardAgents = [...policy.agents.keys(), BROKER_SHARD_AGENT];
  const ttl = longestRequestTtlMs(policy);
  const [summaries, hourly, recent, approvalRecords, lastHour, lastDay] = await Promise.all([
    Promise.all(agents.map((agent) => env.AGENT_LEDGER.getByName(agent.id).summary(agentRules(policy, agent), now))),
    Promise.all(agents.map((agent) => env.AGENT_LEDGER.getByName(agent.id).usageByHour(chartStart(now)))),
    Promise.all(shardsBetween(shardAgents, now - DECISION_WINDOWS_MS[0], now + 1).map((shard) => newestOf(env, shard, now))),
    ttl === 0 ? Promise.resolve([]) : approvalEvents(env, shardsBetween(shardAgents, now - ttl, now + 1), now - ttl),
    noiseBetween(env, now - HOUR_MS, now + 1, NOISE_TOP_SHOWN),
    noiseBetween(env, now - DECISION_WINDOWS_MS[0], now + 1, NOISE_TOP_SHOWN),
  ]);
  const rows = agents.map((agent, i) => agentRow(policy, agent, summaries[i] as (typeof summaries)[number]));
  const decisionsSince = Math.max(now - DECISION_WINDOWS_MS[0], ...recent.map((r) => r.since));
  return {
    now,
    agents: rows,
    pending: pendingApprovals({
      policy,
      records: approvalRecords,
      ledgerOpen: new Map(rows.filter((r) => r.openApprovals > 0).map((r) => [r.id, r.openApprovals])),
      now,
    }),
    decisions: recentDecisions(
      recent.flatMap((r) => r.records),
      decisionsSince,
      DECISIONS_SHOWN,
    ),
    decisionsSince,
    usage: new Map(agents.map((agent, i) => [agent.id, usageChart(hourly[i] ?? [], now)])),
    noise: { lastHour, lastDay },
  };
}

/** One shard's events of the widest window that fits in a page, narrowing for busy shards. */
async function newestOf(env: WritEnv, shard: string, now: number): Promise<{ records: AuditRecord[]; since: number }> {
  for (const window of DECISION_WINDOWS_MS.slice(0, -1)) {
    const page = await env.AUDIT_LOG.getByName(shard).page({ from: now - window }, 0, PAGE_SIZE);
    if (page.nextSeq === null) return { records: page.records, since: now - window };
  }
  const since = now - (DECISION_WINDOWS_MS.at(-1) as number);
  return { records: await readAll(env, shard, { from: since }), since };
}

/** The records the pending list is rebuilt from: requests opened and votes cast since `from`, in every shard. */
async function approvalEvents(env: WritEnv, shards: string[], from: number): Promise<AuditRecord[]> {
  const filters: AuditFilter[] = [
    { type: "ciba_request", decision: "approval_requested", from },
    { type: "approval_decision", from },
  ];
  const pages = await Promise.all(shards.flatMap((shard) => filters.map((filter) => readAll(env, shard, filter))));
  return pages.flat();
}

async function readAll(env: WritEnv, shard: string, filter: AuditFilter): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  let after = 0;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await env.AUDIT_LOG.getByName(shard).page(filter, after, PAGE_SIZE);
    records.push(...page.records);
    if (page.nextSeq === null) break;
    after = page.nextSeq;
  }
  return records;
}
