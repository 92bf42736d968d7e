import { describe, expect, it } from "vitest";
import { isUnauthenticatedFailure, mergeTallies, noiseOf, UNKNOWN_NETWORK } from "../../../core/audit/noise.ts";
import type { Outcome } from "../../../core/audit/outcome.ts";

const JUNE_1_NOON = Date.UTC(2026, 5, 1, 12, 0, 0);

describe("isUnauthenticatedFailure: a refusal before any identity was established", () => {
  it.each<[string, Outcome]>([
    ["a forged client assertion", { event: "token_request", reason: "client_assertion_invalid", failure: "bad_signature" }],
    ["a forged subject token", { event: "token_request", reason: "subject_token_invalid", failure: "unknown_agent" }],
    ["no client authentication at all", { event: "ciba_request", reason: "client_authentication_missing" }],
    ["a form no agent could have sent", { event: "token_request", reason: "unsupported_grant_type" }],
    ["a CIBA poll by nobody", { event: "ciba_poll", reason: "client_assertion_invalid", failure: "malformed" }],
    ["an introspection without a service credential", { event: "introspection", reason: "invalid_client" }],
    ["a usage report by someone who is no service", { event: "usage_report", reason: "usage_service_required" }],
    ["a wrong admin token", { event: "admin_auth_failure", reason: "admin_auth:bad_token", decision: "denied" }],
    ["an admin path that does not exist", { event: "admin_action", reason: "not_found" }],
    ["an approval link nobody was sent", { event: "approval_view", reason: "unknown_link" }],
    ["an enrolment link nobody was sent", { event: "passkey_enrolment", reason: "enrolment_link_unknown" }],
    ["a network over its failure limit, whatever it asked", { reason: "too_many_failures" }],
  ])("is %s", (_name, outcome) => {
    expect(isUnauthenticatedFailure(outcome)).toBe(true);
  });

  it.each<[string, Outcome]>([
    ["an answer that refused nothing", { event: "token_request", decision: "issued", agent: "support-bot" }],
    [
      "a replayed assertion: its signature was genuine",
      { event: "token_request", reason: "client_assertion_invalid", failure: "replayed" },
    ],
    ["a policy refusal of an identified agent", { event: "token_request", reason: "use_case_not_allowed", agent: "support-bot" }],
    ["a service's refused request", { event: "introspection", reason: "form_body_required" }],
    ["an admin's refused request", { event: "admin_action", reason: "unknown_agent", admin: "token" }],
    ["a cross-site request from an admin's browser", { event: "admin_action", reason: "cross_site_request", admin: "ops@example.com" }],
    ["a used approval link: the link was real", { event: "approval_view", reason: "link_used" }],
    ["a request no endpoint audits", { reason: "not_found" }],
  ])("is not %s", (_name, outcome) => {
    expect(isUnauthenticatedFailure(outcome)).toBe(false);
  });
});

describe("noiseOf", () => {
  it("counts one failure in its minute, by the check that failed, the network and the claimed agent", () => {
    const outcome: Outcome = {
      event: "token_request",
      reason: "client_assertion_invalid",
      failure: "bad_signature",
      claimed_agent: "support-bot",
    };
    expect(noiseOf(outcome, "203.0.113.0/24", JUNE_1_NOON + 59_999)).toEqual({
      minute: JUNE_1_NOON,
      reason: "client_assertion_invalid:bad_signature",
      network: "203.0.113.0/24",
      claimedAgent: "support-bot",
      count: 1,
    });
  });

  it("counts a request from no known network under one name, and a silent one under no claimed agent", () => {
    expect(noiseOf({ event: "admin_auth_failure", reason: "admin_auth:no_credential" }, undefined, JUNE_1_NOON)).toMatchObject({
      network: UNKNOWN_NETWORK,
      claimedAgent: "",
    });
  });

  it("counts nothing for a request that was not an unauthenticated failure", () => {
    expect(
      noiseOf({ event: "token_request", reason: "agent_disabled", agent: "support-bot" }, "203.0.113.0/24", JUNE_1_NOON),
    ).toBeUndefined();
  });
});

describe("mergeTallies", () => {
  it("adds up the days' counts and keeps the most frequent of each kind", () => {
    const yesterday = {
      total: 7,
      reasons: [
        { key: "admin_auth:bad_token", count: 5 },
        { key: "unknown_link", count: 2 },
      ],
      networks: [{ key: "203.0.113.0/24", count: 7 }],
      claimedAgents: [],
    };
    const today = {
      total: 4,
      reasons: [
        { key: "unknown_link", count: 4 },
        { key: "client_assertion_invalid:malformed", count: 0 },
      ],
      networks: [{ key: "198.51.100.0/24", count: 4 }],
      claimedAgents: [{ key: "support-bot", count: 3 }],
    };
    expect(mergeTallies([yesterday, today], 2)).toEqual({
      total: 11,
      reasons: [
        { key: "unknown_link", count: 6 },
        { key: "admin_auth:bad_token", count: 5 },
      ],
      networks: [
        { key: "203.0.113.0/24", count: 7 },
        { key: "198.51.100.0/24", count: 4 },
      ],
      claimedAgents: [{ key: "support-bot", count: 3 }],
    });
  });
});
