import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { BudgetRule } from "../../core/budgets/budget-rules.ts";
import type { OAuthError } from "../support/oauth.ts";
import { exchange } from "../support/requests.ts";

const SEARCH = { scope: "crm.customers.search" };

describe("budgets at /token", () => {
  it("issues the burst, then answers 429 rate_limited naming the budget, with Retry-After", async () => {
    const results = await Promise.all(Array.from({ length: 12 }, () => exchange("support-bot", SEARCH)));
    const statuses = results.map((r) => r.status);
    // Exactly the burst of 3, however the 12 parallel requests interleave.
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(9);
    const refused = results.find((r) => r.status === 429);
    expect(refused?.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(Number(refused?.headers.get("retry-after"))).toBeLessThanOrEqual(10);
    expect(await refused?.json<OAuthError>()).toEqual({
      error: "rate_limited",
      error_description: "budget exhausted: use case crm.customers.search: 6 tokens per minute",
    });
  });

  it("does not charge refused requests", async () => {
    const before = await summary();
    expect((await exchange("support-bot", { scope: "crm.everything" })).status).toBe(400);
    expect((await exchange("support-bot", { scope: "crm.customers.export", intent: "x", context: '{"ticket":"SUP-1"}' })).status).toBe(403);
    const after = await summary();
    expect(after.recent).toEqual(before.recent);
  });
});

describe("AgentLedger budget accounting", () => {
  const rules: BudgetRule[] = [{ name: "rows per day", kind: "daily", unit: "max_rows", cap: 250 }];
  const charge = () => ({ jti: crypto.randomUUID(), useCaseId: "u", units: { max_rows: 100 }, expiresAt: Date.now() + 60_000 });

  it("never admits more units than the cap under concurrency", async () => {
    const ledger = env.AGENT_LEDGER.getByName(`budget-${crypto.randomUUID()}`);
    const now = Date.now();
    const results = await Promise.all(Array.from({ length: 20 }, () => ledger.issue([], charge(), rules, now)));
    expect(results.filter((r) => r.ok)).toHaveLength(2);
    expect(results.find((r) => !r.ok)).toMatchObject({ ok: false, reason: "budget", budget: "rows per day" });
  });

  it("counts reported usage instead of the token's limits, once", async () => {
    const ledger = env.AGENT_LEDGER.getByName(`usage-${crypto.randomUUID()}`);
    const now = Date.now();
    const first = charge();
    expect(await ledger.issue([], first, rules, now)).toEqual({ ok: true });
    expect(await ledger.issue([], charge(), rules, now)).toEqual({ ok: true });
    expect((await ledger.issue([], charge(), rules, now)).ok).toBe(false);
    // The first token really read 10 rows: 90 units come back.
    expect(await ledger.reportUsage(first.jti, { max_rows: 10 }, rules, false, now)).toEqual({
      ok: true,
      overLimit: [],
      disabled: false,
      openApprovals: [],
    });
    expect(await ledger.reportUsage(first.jti, { max_rows: 1 }, rules, false, now)).toEqual({ ok: false, reason: "already_reported" });
    expect(await ledger.issue([], { ...charge(), units: { max_rows: 40 } }, rules, now)).toEqual({ ok: true });
  });

  it("frees a day's units once they leave the rolling window, and not before", async () => {
    const ledger = env.AGENT_LEDGER.getByName(`window-${crypto.randomUUID()}`);
    const start = Date.UTC(2026, 10, 25, 10, 30);
    await ledger.issue([], charge(), rules, start);
    await ledger.issue([], charge(), rules, start);
    expect(await ledger.issue([], charge(), rules, start + 23 * 3_600_000)).toMatchObject({ ok: false, reason: "budget" });
    // The window is 24 to 25 hours: at 24 h the charges still count, a bucket later they are gone.
    expect((await ledger.issue([], charge(), rules, start + 24 * 3_600_000)).ok).toBe(false);
    expect(await ledger.issue([], charge(), rules, start + 25 * 3_600_000 + 1)).toEqual({ ok: true });
  });

  it("keeps spent budget across eviction", async () => {
    const ledger = env.AGENT_LEDGER.getByName(`evict-${crypto.randomUUID()}`);
    const now = Date.now();
    await ledger.issue([], charge(), rules, now);
    await ledger.issue([], charge(), rules, now);
    await evictDurableObject(ledger);
    expect((await ledger.issue([], charge(), rules, now)).ok).toBe(false);
  });

  it("refuses a charge whose token id was already recorded as a value: the others' budgets stay exact", async () => {
    const ledger = env.AGENT_LEDGER.getByName(`rollback-${crypto.randomUUID()}`);
    const now = Date.now();
    const first = charge();
    expect(await ledger.issue([], first, rules, now)).toEqual({ ok: true });
    // Same jti again: refused before anything is written, in the same group as a good call.
    const [broken, good] = await Promise.allSettled([
      ledger.issue([], { ...charge(), jti: first.jti }, rules, now),
      ledger.issue([], charge(), rules, now),
    ]);
    expect(broken).toEqual({ status: "fulfilled", value: { ok: false, reason: "replayed", replayedJti: first.jti } });
    expect(good).toEqual({ status: "fulfilled", value: { ok: true } });
    // 200 of 250 rows used, not 300: a third token of 100 rows no longer fits, 50 rows remain.
    expect(await ledger.issue([], charge(), rules, now)).toMatchObject({ ok: false, reason: "budget" });
    const summary = await ledger.summary(rules, now);
    expect(summary.remaining).toEqual([{ budget: "rows per day", remaining: 50 }]);
  });

  it("writes nothing when the budget refuses, not even the proof", async () => {
    const ledger = env.AGENT_LEDGER.getByName(`atomic-${crypto.randomUUID()}`);
    const now = Date.now();
    const tight: BudgetRule[] = [{ name: "one token", kind: "daily", unit: "tokens", cap: 1 }];
    await ledger.issue([{ jti: "p1", expiresAt: now / 1000 + 60 }], charge(), tight, now);
    expect(await ledger.issue([{ jti: "p2", expiresAt: now / 1000 + 60 }], charge(), tight, now)).toMatchObject({
      ok: false,
      reason: "budget",
    });
    const jtis = await runInDurableObject(ledger, (_i, state) =>
      state.storage.sql
        .exec<{ jti: string }>("SELECT jti FROM used_assertions")
        .toArray()
        .map((r) => r.jti),
    );
    expect(jtis).toEqual(["p1"]);
  });
});

async function summary() {
  const { exports } = await import("cloudflare:workers");
  const res = await exports.default.fetch("http://127.0.0.1:8787/admin/agents/support-bot", {
    headers: { authorization: "Bearer dev-admin-token" },
  });
  expect(res.status).toBe(200);
  return res.json<{ recent: unknown[]; budgets: { budget: string; remaining: number }[] }>();
}
