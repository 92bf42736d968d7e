import { describe, expect, it } from "vitest";
import { decide } from "../../../core/policy/decide.ts";
import { WEDNESDAY_NOON_UTC as now, policyWith } from "../../support/policy-fixture.ts";

const detail = (patch: Record<string, unknown> = {}) => [{ type: "agent_use_case" as const, use_case: "crm.read", ...patch }];

describe("decide: deny by default", () => {
  it("grants the whole use case when asked by scope", () => {
    const result = decide(policyWith(), "agent-a", { scope: "crm.read", intent: "look up a customer" }, now);
    expect(result).toMatchObject({
      ok: true,
      value: {
        audience: "https://crm.example.com",
        actions: ["read", "list"],
        limits: { max_rows: 100 },
        ttlSeconds: 300,
        intent: "look up a customer",
        needsApproval: false,
      },
    });
  });

  it("narrows actions and locations through authorization_details", () => {
    const result = decide(
      policyWith(),
      "agent-a",
      { authorizationDetails: detail({ actions: ["read"], locations: ["https://crm.example.com/tables/orders"] }) },
      now,
    );
    expect(result).toMatchObject({ ok: true, value: { actions: ["read"], locations: ["https://crm.example.com/tables/orders"] } });
  });

  it("refuses to widen actions beyond the use case", () => {
    expect(decide(policyWith(), "agent-a", { authorizationDetails: detail({ actions: ["read", "delete"] }) }, now)).toEqual({
      ok: false,
      reason: { code: "action_not_allowed", action: "delete" },
    });
  });

  it("refuses a location the use case does not list", () => {
    const result = decide(
      policyWith(),
      "agent-a",
      { authorizationDetails: detail({ locations: ["https://crm.example.com/tables/users"] }) },
      now,
    );
    expect(result).toEqual({ ok: false, reason: { code: "location_not_allowed", location: "https://crm.example.com/tables/users" } });
  });

  it("refuses an empty action list instead of granting nothing useful", () => {
    expect(decide(policyWith(), "agent-a", { authorizationDetails: detail({ actions: [] }) }, now)).toMatchObject({
      ok: false,
      reason: { code: "invalid_authorization_details" },
    });
  });

  it("requires exactly one use case", () => {
    expect(decide(policyWith(), "agent-a", {}, now)).toEqual({ ok: false, reason: { code: "no_use_case" } });
    expect(decide(policyWith(), "agent-a", { scope: "crm.read other" }, now)).toEqual({ ok: false, reason: { code: "several_use_cases" } });
    expect(decide(policyWith(), "agent-a", { authorizationDetails: [...detail(), ...detail()] }, now)).toEqual({
      ok: false,
      reason: { code: "several_use_cases" },
    });
  });

  it("accepts scope and authorization_details together only when they agree", () => {
    expect(decide(policyWith(), "agent-a", { scope: "crm.read", authorizationDetails: detail() }, now).ok).toBe(true);
    expect(decide(policyWith(), "agent-a", { scope: "other", authorizationDetails: detail() }, now)).toEqual({
      ok: false,
      reason: { code: "scope_mismatch" },
    });
  });

  it("refuses unknown use cases and use cases the agent is not allowed", () => {
    expect(decide(policyWith(), "agent-a", { scope: "nope" }, now)).toEqual({
      ok: false,
      reason: { code: "unknown_use_case", useCase: "nope" },
    });
    expect(decide(policyWith(), "agent-b", { scope: "crm.read" }, now)).toEqual({
      ok: false,
      reason: { code: "use_case_not_allowed", useCase: "crm.read" },
    });
  });

  it("refuses a disabled agent before looking at its request", () => {
    expect(decide(policyWith({}, { status: "disabled" }), "agent-a", { scope: "crm.read" }, now)).toEqual({
      ok: false,
      reason: { code: "agent_disabled" },
    });
  });

  it("picks the requested service among the allowed audiences, by resource or audience", () => {
    const eu = "https://crm-eu.example.com";
    expect(decide(policyWith(), "agent-a", { scope: "crm.read", resource: eu }, now)).toMatchObject({ ok: true, value: { audience: eu } });
    expect(decide(policyWith(), "agent-a", { scope: "crm.read", audience: eu }, now)).toMatchObject({ ok: true, value: { audience: eu } });
    expect(decide(policyWith(), "agent-a", { scope: "crm.read", resource: "https://evil.example" }, now)).toEqual({
      ok: false,
      reason: { code: "audience_not_allowed", audience: "https://evil.example" },
    });
    expect(decide(policyWith(), "agent-a", { scope: "crm.read", resource: eu, audience: "https://crm.example.com" }, now)).toMatchObject({
      ok: false,
      reason: { code: "invalid_target" },
    });
  });

  it("caps the TTL at the use case's max_ttl_seconds", () => {
    expect(decide(policyWith({ max_ttl_seconds: 60 }), "agent-a", { scope: "crm.read" }, now)).toMatchObject({
      ok: true,
      value: { ttlSeconds: 60 },
    });
  });

  it("marks use cases with approval settings as needing approval", () => {
    const policy = policyWith({ approval: { approvers: ["dana@example.com"] } });
    expect(decide(policy, "agent-a", { scope: "crm.read" }, now)).toMatchObject({ ok: true, value: { needsApproval: true } });
  });

  it("checks conditions after the use case and audience", () => {
    const policy = policyWith({ conditions: { intent: "required" } });
    expect(decide(policy, "agent-a", { scope: "crm.read" }, now)).toEqual({ ok: false, reason: { code: "intent_required" } });
    expect(decide(policy, "agent-a", { scope: "crm.read", intent: "why" }, now).ok).toBe(true);
  });

  it("treats an unknown agent as a caller bug, not as input", () => {
    expect(() => decide(policyWith(), "ghost", { scope: "crm.read" }, now)).toThrow(TypeError);
  });
});
