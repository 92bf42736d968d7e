/**
 * What a request can spend in an agent's ledger (`durable-objects/agent-ledger/`): burnt assertion ids, issued
 * tokens, budget buckets and daily usage, open approval requests, and the kill switch. Security tests compare a
 * snapshot before and after an attack: a refused request must leave every row as it was.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";

/** The tables whose rows a request spends (docs/storage-schema.md); the audit outbox is not one: its alarm drains it. */
const SPENT = ["used_assertions", "issued_tokens", "buckets", "usage", "open_approvals", "agent_state"] as const;

export type LedgerSnapshot = Record<(typeof SPENT)[number], unknown[]>;

/** Every row of the tables a request spends, in a stable order. */
export function ledgerSnapshot(agentId: string): Promise<LedgerSnapshot> {
  return runInDurableObject(env.AGENT_LEDGER.getByName(agentId), (_ledger, state) => {
    const rows = (table: string) => state.storage.sql.exec(`SELECT * FROM ${table} ORDER BY 1`).toArray();
    return Object.fromEntries(SPENT.map((table) => [table, rows(table)])) as LedgerSnapshot;
  });
}

/** Snapshots of several agents' ledgers, by agent. */
export async function ledgerSnapshots(agentIds: readonly string[]): Promise<Record<string, LedgerSnapshot>> {
  return Object.fromEntries(await Promise.all(agentIds.map(async (agentId) => [agentId, await ledgerSnapshot(agentId)] as const)));
}
