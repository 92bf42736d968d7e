import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { shardOf } from "../../core/audit/shards.ts";
import type { AgentLedger, Charge } from "../../durable-objects/agent-ledger.ts";
import type { AuditEvent } from "../../schemas/audit.ts";

/**
 * Issue #6: an issued token's audit event is written by the agent's ledger in the same transaction as the token
 * (one Durable Object call per token), then forwarded to its audit shard: never lost, never recorded twice.
 */

const NOW = Date.now();
/** Forwarding waits up to a second for company after a quiet spell, up to five while events keep coming (FORWARD_DELAY_MS, FORWARD_INTERVAL_MS); tests wait for it, bounded. */
const FORWARDED = { timeout: 10_000, interval: 50 } as const;
const agentName = () => `outbox-${crypto.randomUUID().slice(0, 8)}`;
const charge = (): Charge => ({ jti: crypto.randomUUID(), useCaseId: "crm.customers.read", units: {}, expiresAt: NOW + 300_000 });
const proof = () => ({ jti: crypto.randomUUID(), expiresAt: Math.floor(NOW / 1000) + 120 });
const issuedEvent = (agent: string, jti: string): AuditEvent => ({
  ts: NOW,
  request_id: `req-${jti}`,
  type: "token_request",
  agent,
  decision: "issued",
  status: 200,
  jti,
});

function outbox(stub: DurableObjectStub<AgentLedger>): Promise<number> {
  return runInDurableObject(stub, (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM audit_outbox").one().n);
}

async function shardJtis(agent: string): Promise<string[]> {
  const shard = shardOf(agent, NOW);
  const page = await env.AUDIT_LOG.getByName(shard).page({}, 0, 1000);
  return page.records.map((r) => r.jti ?? "");
}

describe("AgentLedger audit outbox", () => {
  it("records the event of each issued token once in the agent's shard, and empties its outbox", async () => {
    const agent = agentName();
    const ledger = env.AGENT_LEDGER.getByName(agent);
    const charges = Array.from({ length: 12 }, charge);
    // Concurrent calls: one group commit, then one forwarding run carries them all.
    const results = await Promise.all(charges.map((c) => ledger.issue([proof()], c, [], NOW, issuedEvent(agent, c.jti))));
    // The ledger says it stored each event: only then does the request log leave it out.
    expect(results).toEqual(charges.map(() => ({ ok: true, audited: true })));
    const jtis = await vi.waitFor(async () => {
      const found = await shardJtis(agent);
      expect(found).toHaveLength(12);
      return found;
    }, FORWARDED);
    expect(jtis).toEqual(charges.map((c) => c.jti));
    const check = await env.AUDIT_LOG.getByName(shardOf(agent, NOW)).verify();
    expect(check).toMatchObject({ ok: true, count: 12 });

    // Forwarded rows go with the next write (no commit of their own), the rest when the alarm fires.
    const next = charge();
    expect((await ledger.issue([proof()], next, [], NOW, issuedEvent(agent, next.jti))).ok).toBe(true);
    await vi.waitFor(async () => expect(await shardJtis(agent)).toHaveLength(13), FORWARDED);
    expect(await outbox(ledger)).toBe(1);
    expect(await runDurableObjectAlarm(ledger)).toBe(true);
    expect(await outbox(ledger)).toBe(0);
    expect(await shardJtis(agent)).toHaveLength(13);
  });

  it("writes no event for a refused token", async () => {
    const agent = agentName();
    const ledger = env.AGENT_LEDGER.getByName(agent);
    const replayed = proof();
    const first = charge();
    expect((await ledger.issue([replayed], first, [], NOW, issuedEvent(agent, first.jti))).ok).toBe(true);
    const second = charge();
    expect(await ledger.issue([replayed], second, [], NOW, issuedEvent(agent, second.jti))).toMatchObject({
      ok: false,
      reason: "replayed",
    });
    await vi.waitFor(async () => expect(await shardJtis(agent)).toEqual([first.jti]), FORWARDED);
    expect(await outbox(ledger)).toBe(1);
  });

  it("forwards events left in the outbox when its alarm fires (e.g. the shard was unreachable)", async () => {
    const agent = agentName();
    const ledger = env.AGENT_LEDGER.getByName(agent);
    const stranded = issuedEvent(agent, "stranded-jti");
    // As if the object had been evicted between writing the token and forwarding its event.
    await runInDurableObject(ledger, (_i, state) =>
      state.storage.sql.exec("INSERT INTO audit_outbox (shard, body) VALUES (?, ?)", shardOf(agent, NOW), JSON.stringify(stranded)),
    );
    expect(await outbox(ledger)).toBe(1);
    await runInDurableObject(ledger, (_i, state) => state.storage.setAlarm(Date.now() + 60_000));
    expect(await runDurableObjectAlarm(ledger)).toBe(true);
    expect(await outbox(ledger)).toBe(0);
    expect(await shardJtis(agent)).toEqual(["stranded-jti"]);
  });
});

describe("AuditLog.appendForwarded", () => {
  it("records a batch sent twice once, and only the new events of a batch that overlaps", async () => {
    const agent = agentName();
    const shard = shardOf(agent, NOW);
    const log = env.AUDIT_LOG.getByName(shard);
    const items = [1, 2, 3].map((seq) => ({ seq, event: issuedEvent(agent, `jti-${seq}`) }));
    expect(await log.appendForwarded(shard, items)).toBe(3);
    expect(await log.appendForwarded(shard, items)).toBe(3);
    const overlapping = [3, 4].map((seq) => ({ seq, event: issuedEvent(agent, `jti-${seq}`) }));
    expect(await log.appendForwarded(shard, overlapping)).toBe(4);
    expect(await shardJtis(agent)).toEqual(["jti-1", "jti-2", "jti-3", "jti-4"]);
    expect(await log.verify()).toMatchObject({ ok: true, count: 4 });
  });
});
