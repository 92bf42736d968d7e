import { describe, expect, it } from "vitest";
import { startApproval } from "../support/ciba.ts";
import type { OAuthError } from "../support/oauth.ts";

// A file of its own: storage is shared by the tests of a file, and this test fills the agent's quota.
describe("CIBA: open requests per agent", () => {
  it("caps open requests per agent with 429 and Retry-After, and mails nobody for a capped request", async () => {
    const results: Response[] = [];
    for (let i = 0; i < 7; i++)
      results.push(await startApproval("billing-agent", { scope: "billing.invoices.refund", intent: `cap test ${i}` }));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const capped = results[5];
    const retryAfter = Number(capped?.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(800);
    expect(retryAfter).toBeLessThanOrEqual(900);
    expect(await capped?.json<OAuthError>()).toMatchObject({
      error: "rate_limited",
      error_description: expect.stringMatching(/open approval/),
    });
  });
});
