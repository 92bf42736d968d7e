import { describe, expect, it } from "vitest";
import { accessTokenClaims } from "../../../core/tokens/access-token-claims.ts";
import { FROZEN_GRANT } from "../../support/grants.ts";

const ISSUER = "https://writ.example.com";
/** 2026-11-25T12:00:00.750Z: the milliseconds must not reach the claims. */
const NOW = new Date(Date.UTC(2026, 10, 25, 12, 0, 0, 750));
const NOW_SECONDS = 1_795_608_000;

describe("accessTokenClaims", () => {
  it("writes the RFC 9068 claim set of the grant: the agent as sub and client_id, the service as aud", () => {
    expect(accessTokenClaims(FROZEN_GRANT, ISSUER, NOW, "jti-1")).toEqual({
      iss: ISSUER,
      sub: "billing-agent",
      aud: "https://billing.example.com",
      client_id: "billing-agent",
      iat: NOW_SECONDS,
      nbf: NOW_SECONDS,
      exp: NOW_SECONDS + 300,
      jti: "jti-1",
      scope: "billing.invoices.refund",
      intent: "refund invoice 42",
      authorization_details: [
        {
          type: "agent_use_case",
          use_case: "billing.invoices.refund",
          actions: ["read", "refund"],
          locations: [],
          limits: { max_refund_cents: 50000 },
        },
      ],
    });
  });

  it("expires the token the grant's lifetime after it was issued, in whole seconds", () => {
    const claims = accessTokenClaims({ ...FROZEN_GRANT, ttlSeconds: 60 }, ISSUER, NOW, "jti-2");
    expect({ iat: claims.iat, nbf: claims.nbf, exp: claims.exp }).toEqual({ iat: NOW_SECONDS, nbf: NOW_SECONDS, exp: NOW_SECONDS + 60 });
  });

  it("leaves out intent when the agent gave none", () => {
    const { intent: _none, ...withoutIntent } = FROZEN_GRANT;
    expect(accessTokenClaims(withoutIntent, ISSUER, NOW, "jti-3")).not.toHaveProperty("intent");
  });

  it("carries the approval of a human-approved grant, and none otherwise", () => {
    const approval = { id: "apr_1", approved_by: ["dana@example.com", "erin@example.com"], approved_at: 1_795_607_990_000 };
    expect(accessTokenClaims(FROZEN_GRANT, ISSUER, NOW, "jti-4", approval).approval).toEqual(approval);
    expect(accessTokenClaims(FROZEN_GRANT, ISSUER, NOW, "jti-5")).not.toHaveProperty("approval");
  });
});
