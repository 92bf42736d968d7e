import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DAY_MS, utcDay } from "../../lib/time.ts";
import { assertionFor } from "../support/assertions.ts";
import { auditAll, dayStart, probe, scratchAgent, seedEvents, verifyDay } from "../support/audit.ts";
import { tokenExchangeParams } from "../support/oauth.ts";

/**
 * Issue #5: retention is alarm-driven; pruning drops a shard's events but keeps its head hash, so the chain an
 * auditor exported earlier can still be checked against what was recorded.
 */

/** AUDIT_RETENTION_DAYS is unset in the tests: the default applies. */
const DEFAULT_RETENTION_DAYS = 400;

async function prune(shard: string): Promise<void> {
  expect(await runDurableObjectAlarm(env.AUDIT_LOG.getByName(shard))).toBe(true);
}

describe("audit retention", () => {
  it("the first write arms one alarm at the end of the shard's day plus the retention period", async () => {
    const agent = scratchAgent("alarm");
    const ts = Date.now();
    const { shard } = await seedEvents(agent, 2, ts);
    const alarm = await runInDurableObject(env.AUDIT_LOG.getByName(shard), (_instance, state) => state.storage.getAlarm());
    expect(alarm).toBe(dayStart(ts) + DAY_MS + DEFAULT_RETENTION_DAYS * DAY_MS);
    // Later writes keep the same alarm.
    await seedEvents(agent, 1, ts);
    expect(await runInDurableObject(env.AUDIT_LOG.getByName(shard), (_instance, state) => state.storage.getAlarm())).toBe(alarm);
  });

  it("pruning drops the shard's events and verify reports it pruned, with the head it had before", async () => {
    const agent = scratchAgent("prune");
    const neighbour = scratchAgent("neighbour");
    const { shard, events } = await seedEvents(agent, 4);
    await seedEvents(neighbour, 2);
    const day = utcDay(events[0]?.ts ?? Date.now());
    const before = await verifyDay(day, agent);
    expect(before).toMatchObject({ ok: true, shards: [{ ok: true, count: 4, pruned: false }] });
    const head = before.shards[0]?.ok ? before.shards[0].head : "";
    expect(head).toBe((await auditAll({ agent })).at(-1)?.hash);

    await prune(shard);

    expect(await auditAll({ agent })).toEqual([]);
    // The count is what the shard held when it was pruned.
    expect(await verifyDay(day, agent)).toEqual({ ok: true, day, shards: [{ ok: true, shard, count: 4, head, pruned: true }] });
    const stored = await runInDurableObject(env.AUDIT_LOG.getByName(shard), (_instance, state) => ({
      events: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events").one().n,
      pruned: state.storage.sql.exec<{ pruned_count: number; pruned_head: string }>("SELECT pruned_count, pruned_head FROM shard").one(),
    }));
    expect(stored).toEqual({ events: 0, pruned: { pruned_count: 4, pruned_head: head } });
    // Other shards are untouched.
    expect(await verifyDay(day, neighbour)).toMatchObject({ ok: true, shards: [{ ok: true, count: 2, pruned: false }] });
    expect(await auditAll({ agent: neighbour })).toHaveLength(2);
  });

  it("prunes a shard of real traffic the same way", async () => {
    const p = probe("retention");
    for (let i = 0; i < 2; i++)
      await p.post("/token", tokenExchangeParams(await assertionFor("billing-agent"), { scope: "crm.customers.read" }));
    const [record] = await p.records(2);
    const day = utcDay(record?.ts ?? Date.now());
    const shard = `billing-agent/${day}`;
    const before = await verifyDay(day, "billing-agent");
    expect(before.ok).toBe(true);
    const head = before.shards[0]?.ok ? before.shards[0].head : "";
    const count = before.shards[0]?.ok ? before.shards[0].count : -1;

    await prune(shard);

    expect((await auditAll({ agent: "billing-agent" })).filter((r) => r.shard === shard)).toEqual([]);
    expect((await verifyDay(day, "billing-agent")).shards).toEqual([{ ok: true, shard, count, head, pruned: true }]);
  });

  // BUG: pruning a shard whose chain is already broken stores `broken-at-<seq>` as its head, and verify then
  // answers ok: true for it: retention launders the evidence of tampering.
  it("a shard tampered with before pruning does not verify ok after it", async () => {
    const agent = scratchAgent("laundered");
    const { shard, events } = await seedEvents(agent, 4);
    const day = utcDay(events[0]?.ts ?? Date.now());
    await runInDurableObject(env.AUDIT_LOG.getByName(shard), (_instance, state) => {
      state.storage.sql.exec("DELETE FROM events WHERE seq = 2");
    });
    expect((await verifyDay(day, agent)).ok).toBe(false);
    await prune(shard);
    expect((await verifyDay(day, agent)).ok).toBe(false);
  });
});
