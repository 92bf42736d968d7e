import { describe, expect, it } from "vitest";
import { chainHash, genesis } from "../../../core/audit/hash-chain.ts";
import { canonicalJson } from "../../../lib/canonical-json.ts";

// Pinned values, computed from the formula before it moved here from durable-objects/audit-log.ts and
// cli/audit/chain-check.ts: every stored chain and every export already signed off depends on them not changing.
const SHARD = "billing-agent/2026-06-01";
const EVENT = { ts: Date.UTC(2026, 5, 1, 12), type: "token_request", agent: "billing-agent", decision: "allow" };
const GENESIS = "1CiiXGQvi1Tki9q5GtCfRvbITHjjq5CNPp-imkfzAik";
const FIRST = "sNv3nhNWDeSjljjNJNFmuHfgUJerGhYHVem4vhn-KKk";
const SECOND = "0YVbp_BJZaewwpmAibt81eDWm2fj29FtsVKp4Vs1_4Y";

describe("the audit hash chain", () => {
  it("anchors a shard's chain to its name", async () => {
    expect(await genesis(SHARD)).toBe(GENESIS);
    expect(await genesis("billing-agent/2026-06-02")).not.toBe(GENESIS);
  });

  it("hashes a record over the previous hash, its sequence number and its canonical body", async () => {
    const body = canonicalJson(EVENT);
    expect(body).toBe('{"agent":"billing-agent","decision":"allow","ts":1780315200000,"type":"token_request"}');
    expect(await chainHash(GENESIS, 1, body)).toBe(FIRST);
    expect(await chainHash(FIRST, 2, body)).toBe(SECOND);
  });

  it("changes when any of the three inputs changes", async () => {
    const body = canonicalJson(EVENT);
    expect(await chainHash(GENESIS, 2, body)).not.toBe(FIRST);
    expect(await chainHash(SECOND, 1, body)).not.toBe(FIRST);
    expect(await chainHash(GENESIS, 1, canonicalJson({ ...EVENT, decision: "deny" }))).not.toBe(FIRST);
  });
});
