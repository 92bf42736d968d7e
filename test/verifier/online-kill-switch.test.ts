// The kill switch as an online verifier sees it. In a file of its own: disabling an agent is broker state that
// the other tests of a file would see, and billing-agent is not used by the other verifier tests.
import { describe, expect, it } from "vitest";
import { CUSTOMERS_READ } from "../support/demo-policy.ts";
import { crmVerifier, killSwitch } from "../support/online-verifier.ts";
import { accessTokenFor } from "../support/requests.ts";

const AGENT = "billing-agent";

describe("online verification honours the kill switch", () => {
  it("refuses a token issued before the agent was disabled, which the stateless default still accepts", async () => {
    const online = crmVerifier({ cacheSeconds: 0 });
    const offline = crmVerifier();
    const token = await accessTokenFor(AGENT);
    await expect(online.verify(token, { scope: CUSTOMERS_READ })).resolves.toMatchObject({ agent: AGENT });
    await killSwitch(AGENT, "disable");
    try {
      await expect(online.verify(token, { scope: CUSTOMERS_READ })).rejects.toMatchObject({ code: "ERR_WRIT_TOKEN_INACTIVE" });
      await expect(offline.verify(token, { scope: CUSTOMERS_READ })).resolves.toMatchObject({ agent: AGENT });
    } finally {
      await killSwitch(AGENT, "enable");
    }
  });

  it("after re-enabling, accepts the agent's new tokens while its tokens from before the switch stay inactive (watermark)", async () => {
    const online = crmVerifier({ cacheSeconds: 0 });
    const before = await accessTokenFor(AGENT);
    await killSwitch(AGENT, "disable");
    await killSwitch(AGENT, "enable");
    const after = await accessTokenFor(AGENT);
    await expect(online.verify(after, { scope: CUSTOMERS_READ })).resolves.toMatchObject({ agent: AGENT });
    await expect(online.verify(before, { scope: CUSTOMERS_READ })).rejects.toMatchObject({ code: "ERR_WRIT_TOKEN_INACTIVE" });
  });
});
