import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { EventRow } from "../../durable-objects/audit-log.ts";
import { base64url } from "../../lib/crypto.ts";
import { DAY_MS, utcDay } from "../../lib/time.ts";
import { assertionFor } from "../support/assertions.ts";
import { adminGet, auditAll, dayStart, probe, scratchAgent, seedEvents, verifyDay } from "../support/audit.ts";
import { tokenExchangeParams } from "../support/oauth.ts";

/**
 * Issue #5: each shard is a hash chain, and /admin/audit/verify detects any edit, deletion or reordering and says
 * where. Tampering is done the way an insider with storage access would: SQL on the shard's Durable Object.
 */

/** Runs SQL statements (each a string, or a statement and its bindings) on the shard's own storage. */
function tamper(shard: string, ...statements: (string | [string, ...(string | number)[]])[]): Promise<void> {
  return runInDurableObject(env.AUDIT_LOG.getByName(shard), (_instance, state) => {
    for (const statement of statements)
      if (typeof statement === "string") state.storage.sql.exec(statement);
      else state.storage.sql.exec(...statement);
  });
}

/** The chain's link formula (durable-objects/audit-log.ts), as an insider re-hashing an edited record would use it. */
async function linkHash(prev: string, seq: number, body: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${prev}\n${seq}\n${body}`))));
}

function rowsOf(shard: string): Promise<EventRow[]> {
  return runInDurableObject(env.AUDIT_LOG.getByName(shard), (_instance, state) =>
    state.storage.sql.exec<EventRow>("SELECT * FROM events ORDER BY seq").toArray(),
  );
}

/** A fresh shard of five events, and what /verify said about it before anyone touched it. */
async function seededShard(label: string) {
  const agent = scratchAgent(label);
  const { shard, events } = await seedEvents(agent, 5);
  const day = utcDay(events[0]?.ts ?? Date.now());
  const before = await verifyDay(day, agent);
  expect(before).toMatchObject({ ok: true, shards: [{ ok: true, shard, count: 5, pruned: false }] });
  return { agent, shard, day };
}

async function expectBroken(day: string, agent: string, shard: string, brokenAt: number, problem: "missing" | "reordered" | "edited") {
  expect(await verifyDay(day, agent)).toEqual({ ok: false, day, shards: [{ ok: false, shard, brokenAt, problem }] });
}

describe("audit hash chain: an untouched shard", () => {
  it("verifies a shard of real traffic with its record count and the newest record's hash as head", async () => {
    const p = probe("chain");
    for (const scope of ["crm.customers.read", "crm.customers.search", "crm.customers.read"])
      await p.post("/token", tokenExchangeParams(await assertionFor("billing-agent"), { scope }));
    const [latest] = await p.records(3);
    const day = utcDay(latest?.ts ?? Date.now());
    const start = dayStart(latest?.ts ?? Date.now());
    const shardRecords = await auditAll({ agent: "billing-agent", from: String(start), to: String(start + DAY_MS) });
    expect(shardRecords.map((r) => r.seq)).toEqual(shardRecords.map((_, i) => i + 1));

    expect(await verifyDay(day, "billing-agent")).toEqual({
      ok: true,
      day,
      shards: [{ ok: true, shard: `billing-agent/${day}`, count: shardRecords.length, head: shardRecords.at(-1)?.hash, pruned: false }],
    });
    // Each record links to the one before it.
    for (const [i, record] of shardRecords.entries()) if (i > 0) expect(record.prev_hash).toBe(shardRecords[i - 1]?.hash);
  });

  it("verifies every shard of the day when no agent is named", async () => {
    const report = await verifyDay(utcDay(Date.now()));
    expect(report.ok).toBe(true);
    expect(report.shards.map((s) => s.shard)).toContain(`billing-agent/${utcDay(Date.now())}`);
    for (const shard of report.shards) expect(shard).toMatchObject({ ok: true, pruned: false });
  });

  it("rejects a malformed day", async () => {
    for (const day of ["2026-13-40", "yesterday", "2026-1-1"]) {
      const res = await adminGet("/admin/audit/verify", { day });
      expect(res.status, day).toBe(400);
      expect(await res.json()).toMatchObject({ error: "invalid_request" });
    }
  });
});

describe("audit hash chain: tampering is detected where it happened", () => {
  it("an edited record body breaks the chain at that record (edited)", async () => {
    const { agent, shard, day } = await seededShard("edit");
    await tamper(shard, `UPDATE events SET body = replace(body, '"decision":"denied"', '"decision":"issued"') WHERE seq = 4`);
    expect(JSON.parse((await rowsOf(shard))[3]?.body ?? "{}")).toMatchObject({ decision: "issued" });
    await expectBroken(day, agent, shard, 4, "edited");
  });

  it("an edited record whose hash is recomputed is caught at that record, where its body no longer fits its indexed columns", async () => {
    const { agent, shard, day } = await seededShard("edit-rehash");
    const rows = await rowsOf(shard);
    const body = (rows[1]?.body ?? "").replace('"decision":"denied"', '"decision":"issued"');
    const hash = await linkHash(rows[1]?.prev_hash ?? "", 2, body);
    await tamper(shard, ["UPDATE events SET body = ?, hash = ? WHERE seq = 2", body, hash]);
    await expectBroken(day, agent, shard, 2, "edited");
  });

  it("an edit that also rewrites the indexed columns and the hash still breaks the next record's link (reordered)", async () => {
    const { agent, shard, day } = await seededShard("edit-rehash-columns");
    const rows = await rowsOf(shard);
    const body = (rows[1]?.body ?? "").replace('"decision":"denied"', '"decision":"issued"');
    const hash = await linkHash(rows[1]?.prev_hash ?? "", 2, body);
    await tamper(shard, ["UPDATE events SET body = ?, hash = ?, decision = 'issued' WHERE seq = 2", body, hash]);
    await expectBroken(day, agent, shard, 3, "reordered");
  });

  it("a deleted middle record leaves a gap (missing at its seq)", async () => {
    const { agent, shard, day } = await seededShard("delete");
    await tamper(shard, "DELETE FROM events WHERE seq = 3");
    await expectBroken(day, agent, shard, 3, "missing");
  });

  it("the oldest record deleted is missing at seq 1", async () => {
    const { agent, shard, day } = await seededShard("delete-first");
    await tamper(shard, "DELETE FROM events WHERE seq = 1");
    await expectBroken(day, agent, shard, 1, "missing");
  });

  it("two records swapped in sequence break the chain at the first of them (reordered)", async () => {
    const { agent, shard, day } = await seededShard("swap-seq");
    await tamper(
      shard,
      "UPDATE events SET seq = -1 WHERE seq = 2",
      "UPDATE events SET seq = 2 WHERE seq = 3",
      "UPDATE events SET seq = 3 WHERE seq = -1",
    );
    await expectBroken(day, agent, shard, 2, "reordered");
  });

  it("two records' bodies swapped break the chain at the first of them (edited)", async () => {
    const { agent, shard, day } = await seededShard("swap-body");
    const rows = await rowsOf(shard);
    await tamper(
      shard,
      ["UPDATE events SET body = ? WHERE seq = 2", rows[2]?.body ?? ""],
      ["UPDATE events SET body = ? WHERE seq = 3", rows[1]?.body ?? ""],
    );
    await expectBroken(day, agent, shard, 2, "edited");
  });

  it("a changed prev_hash breaks the chain at that record (reordered)", async () => {
    const { agent, shard, day } = await seededShard("prev-hash");
    const rows = await rowsOf(shard);
    await tamper(shard, ["UPDATE events SET prev_hash = ? WHERE seq = 4", rows[1]?.hash ?? ""]);
    await expectBroken(day, agent, shard, 4, "reordered");
  });

  it("a chain moved into another agent's shard fails at its first record: the shard name anchors the chain", async () => {
    const source = await seededShard("source");
    const target = await seededShard("target");
    const rows = await rowsOf(source.shard);
    await runInDurableObject(env.AUDIT_LOG.getByName(target.shard), (_instance, state) => {
      state.storage.sql.exec("DELETE FROM events");
      for (const r of rows)
        state.storage.sql.exec(
          "INSERT INTO events (seq, ts, type, agent, use_case, decision, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
          r.seq,
          r.ts,
          r.type,
          r.agent,
          r.use_case,
          r.decision,
          r.body,
          r.prev_hash,
          r.hash,
        );
    });
    await expectBroken(target.day, target.agent, target.shard, 1, "reordered");
  });

  // GAP: the newest records can be deleted without trace: nothing records how long the chain was (or its head
  // outside the shard), so a truncated chain verifies ok with a smaller count. An auditor only notices by
  // comparing with an earlier export or verify.
  it("detects deletion of the newest record", async () => {
    const { agent, shard, day } = await seededShard("truncate");
    await tamper(shard, "DELETE FROM events WHERE seq = 5");
    expect((await verifyDay(day, agent)).ok).toBe(false);
  });

  // BUG: the filter columns (type, agent, use_case, decision, ts) are copies of the body outside the hash, and the
  // query filters on them, so editing one hides a record from filtered queries while /verify still says ok.
  it("detects an edited filter column that hides a record from filtered queries", async () => {
    const { agent, shard, day } = await seededShard("column");
    const denied = await auditAll({ agent, decision: "denied" });
    expect(denied.map((r) => r.seq)).toEqual([2, 4]);
    await tamper(shard, "UPDATE events SET decision = 'issued' WHERE seq = 2");
    expect((await auditAll({ agent, decision: "denied" })).map((r) => r.seq)).toEqual([4]);
    expect((await verifyDay(day, agent)).ok).toBe(false);
  });
});

describe("audit hash chain: the day's report", () => {
  // Last in this file: it breaks a real agent's shard.
  it("fails the whole day when one shard is broken, and names only that shard", async () => {
    const { shard, events } = await seedEvents("report-bot", 3);
    const day = utcDay(events[0]?.ts ?? Date.now());
    await tamper(shard, "DELETE FROM events WHERE seq = 2");
    const report = await verifyDay(day);
    expect(report.ok).toBe(false);
    expect(report.shards.filter((s) => !s.ok)).toEqual([{ ok: false, shard, brokenAt: 2, problem: "missing" }]);
    expect(report.shards.filter((s) => s.ok).length).toBeGreaterThan(0);
  });
});
