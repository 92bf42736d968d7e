import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AgentLedger } from "../../durable-objects/agent-ledger.ts";

const NOW = 1_800_000_000;
// Storage is shared by the tests of a file, so each test takes objects of its own.
const ledger = (name: string = crypto.randomUUID()) => env.AGENT_LEDGER.getByName(name);

function usedJtis(stub: DurableObjectStub<AgentLedger>): Promise<string[]> {
  return runInDurableObject(stub, (_instance, state) =>
    state.storage.sql
      .exec<{ jti: string }>("SELECT jti FROM used_assertions ORDER BY jti")
      .toArray()
      .map((r) => r.jti),
  );
}

describe("AgentLedger", () => {
  it("admits a proof once and refuses its replay", async () => {
    const stub = ledger();
    expect(await stub.admit([{ jti: "a", expiresAt: NOW + 60 }], NOW)).toEqual({ ok: true });
    expect(await stub.admit([{ jti: "a", expiresAt: NOW + 60 }], NOW + 1)).toEqual({ ok: false, replayedJti: "a" });
  });

  it("writes nothing when one of several proofs is a replay", async () => {
    const stub = ledger();
    await stub.admit([{ jti: "seen", expiresAt: NOW + 60 }], NOW);
    expect(
      await stub.admit(
        [
          { jti: "fresh", expiresAt: NOW + 60 },
          { jti: "seen", expiresAt: NOW + 60 },
        ],
        NOW,
      ),
    ).toEqual({
      ok: false,
      replayedJti: "seen",
    });
    expect(await usedJtis(stub)).toEqual(["seen"]);
  });

  it("keeps each agent's proofs apart", async () => {
    const [one, two] = [crypto.randomUUID(), crypto.randomUUID()];
    await ledger(one).admit([{ jti: "same", expiresAt: NOW + 60 }], NOW);
    expect(await ledger(two).admit([{ jti: "same", expiresAt: NOW + 60 }], NOW)).toEqual({ ok: true });
  });

  it("admits exactly one of many concurrent uses of the same proof", async () => {
    const stub = ledger();
    const results = await Promise.all(Array.from({ length: 20 }, () => stub.admit([{ jti: "race", expiresAt: NOW + 60 }], NOW)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
  });

  it("remembers used proofs across eviction", async () => {
    const stub = ledger();
    await stub.admit([{ jti: "durable", expiresAt: NOW + 60 }], NOW);
    await evictDurableObject(stub);
    expect(await stub.admit([{ jti: "durable", expiresAt: NOW + 60 }], NOW)).toEqual({ ok: false, replayedJti: "durable" });
  });

  it("purges expired proofs when its alarm fires and re-arms for the next one", async () => {
    const stub = ledger();
    const nowSeconds = Math.floor(Date.now() / 1000);
    await stub.admit([{ jti: "old", expiresAt: nowSeconds - 10 }], nowSeconds - 20);
    await stub.admit([{ jti: "live", expiresAt: nowSeconds + 600 }], nowSeconds);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await usedJtis(stub)).toEqual(["live"]);
    const alarm = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
    expect(alarm).toBe((nowSeconds + 601) * 1000);
  });
});
