import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AgentLedger } from "../../durable-objects/agent-ledger.ts";

const NOW = Date.UTC(2026, 10, 25, 10, 0);
const TTL_MS = 900_000;
const ledger = () => env.AGENT_LEDGER.getByName(crypto.randomUUID());
let proofs = 0;
const proof = () => [{ jti: `p${++proofs}`, expiresAt: NOW / 1000 + 60 }];

async function reserve(stub: DurableObjectStub<AgentLedger>, id: string): Promise<void> {
  const reservation = { requestHash: `hash-${id}`, approvalId: id, authReqId: `${id}.secret`, expiresAt: NOW + TTL_MS };
  expect(await stub.reserveApproval(proof(), reservation, 5, NOW)).toEqual({ kind: "reserved" });
}

describe("AgentLedger: approval requests on the books", () => {
  it("keeps an approved request on the books for the kill switch, but no longer counts it against the cap", async () => {
    const stub = ledger();
    await reserve(stub, "approved");
    await reserve(stub, "denied");
    await reserve(stub, "pending");
    await stub.closeApproval("hash-approved", "approved");
    await stub.closeApproval("hash-denied", "denied");
    expect((await stub.summary([], NOW)).openApprovals).toBe(1);
    const onBooks = async (id: string) => stub.admitPoll(proof(), id, NOW + 1000);
    expect(await onBooks("approved")).toEqual({ ok: true, onBooks: true });
    expect(await onBooks("pending")).toEqual({ ok: true, onBooks: true });
    expect(await onBooks("denied")).toEqual({ ok: true, onBooks: false });
    expect((await stub.setDisabled(true, NOW + 2000)).openApprovals.sort()).toEqual(["approved", "pending"]);
    expect(await onBooks("approved")).toEqual({ ok: true, onBooks: false });
  });

  it("keeps an approved request findable through the longest lease after its deadline, then forgets it", async () => {
    const stub = ledger();
    await reserve(stub, "leased");
    await stub.closeApproval("hash-leased", "approved");
    const day = 24 * 3_600_000;
    expect(await stub.admitPoll(proof(), "leased", NOW + TTL_MS + day - 1)).toEqual({ ok: true, onBooks: true });
    expect(await stub.admitPoll(proof(), "leased", NOW + TTL_MS + day)).toEqual({ ok: true, onBooks: false });
  });

  it("hands back the requests opened while the agent was switched off when it is switched on again", async () => {
    const stub = ledger();
    await stub.setDisabled(true, NOW);
    await reserve(stub, "opened-while-off");
    expect(await stub.setDisabled(false, NOW + 1000)).toEqual({ openApprovals: ["opened-while-off"] });
    expect(await stub.setDisabled(false, NOW + 2000)).toEqual({ openApprovals: [] });
  });

  it("refuses a replayed poll proof and writes nothing", async () => {
    const stub = ledger();
    await reserve(stub, "polled");
    const used = proof();
    expect(await stub.admitPoll(used, "polled", NOW)).toEqual({ ok: true, onBooks: true });
    const fresh = proof();
    expect(await stub.admitPoll([...fresh, ...used], "polled", NOW)).toEqual({ ok: false, replayedJti: used[0]?.jti });
    // The refused poll's fresh proof was not burnt with it.
    expect(await stub.admitPoll(fresh, "polled", NOW)).toEqual({ ok: true, onBooks: true });
  });
});
