import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { BudgetRule } from "../../core/budgets/budget-rules.ts";
import type { IssueCall } from "../../durable-objects/agent-ledger.ts";

const RULES: BudgetRule[] = [{ name: "rows per day", kind: "daily", unit: "max_rows", cap: 250 }];
const call = (now: number, jti: string = crypto.randomUUID(), proof = crypto.randomUUID()): IssueCall => ({
  proofs: [{ jti: proof, expiresAt: Math.floor(now / 1000) + 60 }],
  charge: { jti, useCaseId: "u", units: { max_rows: 100 }, expiresAt: now + 60_000 },
  rules: RULES,
  now,
});

async function issuedIds(ledger: DurableObjectStub): Promise<string[]> {
  return runInDurableObject(ledger, (_instance, state) =>
    state.storage.sql
      .exec<{ jti: string }>("SELECT jti FROM issued_tokens ORDER BY jti")
      .toArray()
      .map((r) => r.jti),
  );
}

/** The edge's batched round trip (worker/grants/ledger-issue.ts): each call is the `issue` it would have been alone. */
describe("AgentLedger.issueMany", () => {
  it("answers each call in order as issue would, a replayed proof and a spent budget refused alone", async () => {
    const ledger = env.AGENT_LEDGER.getByName(`many-${crypto.randomUUID()}`);
    const now = Date.now();
    const first = call(now);
    const replay = call(now, undefined, first.proofs[0]?.jti);
    const second = call(now);
    const over = call(now);

    const answers = await ledger.issueMany([first, replay, second, over]);

    expect(answers).toEqual([
      { ok: true },
      { ok: false, reason: "replayed", replayedJti: first.proofs[0]?.jti },
      { ok: true },
      { ok: false, reason: "budget", budget: "rows per day", retryAfterSeconds: expect.any(Number) },
    ]);
    expect(await issuedIds(ledger)).toEqual([first.charge.jti, second.charge.jti].sort());
    expect((await ledger.summary(RULES, now)).remaining).toEqual([{ budget: "rows per day", remaining: 50 }]);
  });

  it("answers a call that throws with its message and still commits the others of the batch", async () => {
    const ledger = env.AGENT_LEDGER.getByName(`many-${crypto.randomUUID()}`);
    const now = Date.now();
    const good = call(now);
    // A caller bug the edge never sends (no use case): SQLite's NOT NULL fails inside the shared transaction.
    const broken = { ...call(now), charge: { ...call(now).charge, useCaseId: null as unknown as string } };

    const answers = await ledger.issueMany([broken, good]);

    expect(answers[0]).toMatchObject({ ok: false, reason: "thrown", message: expect.stringContaining("NOT NULL") });
    expect(answers[1]).toEqual({ ok: true });
    expect(await issuedIds(ledger)).toEqual([good.charge.jti]);
  });
});
