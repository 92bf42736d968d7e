import { describe, expect, it } from "vitest";
import { compilePolicy, PolicyError } from "../../../core/policy/compile-policy.ts";
import { decide } from "../../../core/policy/decide.ts";
import { decideDelegation, widerLimitOf } from "../../../core/policy/delegation.ts";
import type { AccessTokenClaims } from "../../../schemas/access-token.ts";
import { WEDNESDAY_NOON_UTC } from "../../support/policy-fixture.ts";

const KEY = { kid: "k1", kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" } as const;
const CRM = "https://crm.example.com";
const CUSTOMERS = `${CRM}/tables/customers`;
const ORDERS = `${CRM}/tables/orders`;
const NOW = WEDNESDAY_NOON_UTC;
const NOW_S = NOW.getTime() / 1000;

const base = {
  id: "crm.lookup",
  description: "look up",
  audiences: [CRM, "https://crm-eu.example.com"],
  actions: ["read", "list"],
  locations: [CUSTOMERS, ORDERS],
  limits: { max_rows: 10, region: "eu" },
  max_ttl_seconds: 300,
  agents: ["subject", "actor", "second"],
  delegation: { actors: { subject: ["actor"], actor: ["second"] }, max_depth: 2 },
};

function policy(useCase: Record<string, unknown> = {}, extra: Record<string, unknown>[] = []) {
  return compilePolicy({
    version: 1,
    agents: ["subject", "actor", "second", "stranger"].map((id) => ({ id, name: id, keys: [KEY] })),
    use_cases: [{ ...base, ...useCase }, ...extra],
  });
}

/** The claims of a token the broker issued to `subject` for crm.lookup, as verified. */
function parent(overrides: Partial<AccessTokenClaims> = {}, granted: Record<string, unknown> = {}): AccessTokenClaims {
  return {
    iss: "https://writ.example.com",
    sub: "subject",
    aud: CRM,
    client_id: "subject",
    iat: NOW_S - 60,
    nbf: NOW_S - 60,
    exp: NOW_S + 240,
    jti: "parent-jti",
    scope: "crm.lookup",
    authorization_details: [
      {
        type: "agent_use_case",
        use_case: "crm.lookup",
        actions: ["read", "list"],
        locations: [CUSTOMERS, ORDERS],
        limits: base.limits,
        ...granted,
      },
    ],
    ...overrides,
  } as AccessTokenClaims;
}

const ask = (details: Record<string, unknown> = {}) => ({
  authorizationDetails: [{ type: "agent_use_case" as const, use_case: "crm.lookup", ...details }],
});

describe("decideDelegation: narrow only", () => {
  it("gives the actor a token for the subject: sub is the subject, act names the actor, TTL within the parent's life", () => {
    const result = decideDelegation(policy(), parent(), "actor", ask(), NOW);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.grant.agent.id).toBe("subject");
    expect(result.value.actor.id).toBe("actor");
    expect(result.value.act).toEqual({ sub: "actor" });
    expect(result.value.grant.ttlSeconds).toBe(240);
    expect(result.value.grant.audience).toBe(CRM);
    expect(result.value.grant.actions).toEqual(["read", "list"]);
  });

  it("never outlives the parent: the TTL is the parent's remaining life when that is shorter than the use case's", () => {
    const result = decideDelegation(policy(), parent({ exp: NOW_S + 31 }), "actor", ask(), NOW);
    expect(result.ok && result.value.grant.ttlSeconds).toBe(31);
    expect(decideDelegation(policy(), parent({ exp: NOW_S }), "actor", ask(), NOW)).toEqual({
      ok: false,
      reason: { code: "subject_token_invalid", failure: "expired" },
    });
  });

  it("by default narrows to what both the use case and the parent grant", () => {
    const result = decideDelegation(policy(), parent({}, { actions: ["read"], locations: [CUSTOMERS] }), "actor", ask(), NOW);
    expect(result.ok && [result.value.grant.actions, result.value.grant.locations]).toEqual([["read"], [CUSTOMERS]]);
  });

  it.each([
    ["action", { actions: ["list"] }, { actions: ["read"] }, 'action "list"'],
    ["location", { locations: [ORDERS] }, { locations: [CUSTOMERS] }, `location "${ORDERS}"`],
  ])("refuses a wider %s, naming it", (rule, asked, granted, detail) => {
    expect(decideDelegation(policy(), parent({}, granted), "actor", ask(asked), NOW)).toEqual({
      ok: false,
      reason: { code: "delegation_widened", rule, detail },
    });
  });

  it("refuses a larger limit, another value, or a dropped one", () => {
    for (const limits of [
      { max_rows: 5, region: "eu" },
      { max_rows: 10, region: "us" },
      { max_rows: 10, region: "eu", extra: 1 },
    ])
      expect(decideDelegation(policy(), parent({}, { limits }), "actor", ask(), NOW)).toMatchObject({
        ok: false,
        reason: { code: "delegation_widened", rule: "limit" },
      });
    expect(widerLimitOf({ max_rows: 5 }, { max_rows: 10 })).toBeUndefined();
    expect(widerLimitOf({ max_rows: 5, cap: 1 }, { max_rows: 10 })).toBeUndefined();
  });

  it("refuses another service than the parent's (a subject token for another audience)", () => {
    expect(decideDelegation(policy(), parent(), "actor", { ...ask(), resource: "https://crm-eu.example.com" }, NOW)).toEqual({
      ok: false,
      reason: { code: "delegation_widened", rule: "audience", detail: 'service "https://crm-eu.example.com"' },
    });
  });

  it("refuses a use case the parent's cannot be narrowed into", () => {
    const other = { ...base, id: "crm.other", delegation: undefined };
    expect(decideDelegation(policy({}, [other]), parent({ scope: "crm.other" }), "actor", ask(), NOW)).toEqual({
      ok: false,
      reason: { code: "delegation_widened", rule: "use_case", detail: 'use case "crm.lookup"' },
    });
  });

  it("follows `from`: a narrower use case derived from a wider one", () => {
    const narrow = {
      ...base,
      id: "crm.lookup.one",
      actions: ["read"],
      limits: { max_rows: 1, region: "eu" },
      delegation: { ...base.delegation, from: ["crm.lookup"] },
    };
    const result = decideDelegation(policy({}, [narrow]), parent(), "actor", { scope: "crm.lookup.one" }, NOW);
    expect(result.ok && [result.value.grant.useCase.id, result.value.grant.actions]).toEqual(["crm.lookup.one", ["read"]]);
  });

  it("refuses when the use case forbids delegation, the actor may not act for the principal, or the chain is too deep", () => {
    expect(decideDelegation(policy({ delegation: undefined }), parent(), "actor", ask(), NOW)).toEqual({
      ok: false,
      reason: { code: "delegation_not_allowed", useCase: "crm.lookup", rule: "forbidden" },
    });
    expect(decideDelegation(policy(), parent(), "second", ask(), NOW)).toEqual({
      ok: false,
      reason: { code: "delegation_not_allowed", useCase: "crm.lookup", rule: "actor" },
    });
    const hop2 = parent({ act: { sub: "actor" } });
    const second = decideDelegation(policy(), hop2, "second", ask(), NOW);
    expect(second.ok && second.value.act).toEqual({ sub: "second", act: { sub: "actor" } });
    expect(decideDelegation(policy(), parent({ act: { sub: "second", act: { sub: "actor" } } }), "actor", ask(), NOW)).toEqual({
      ok: false,
      reason: { code: "delegation_not_allowed", useCase: "crm.lookup", rule: "depth" },
    });
  });

  it("refuses an agent acting for itself", () => {
    expect(decideDelegation(policy(), parent(), "subject", ask(), NOW)).toMatchObject({
      ok: false,
      reason: { code: "delegation_not_allowed", rule: "actor" },
    });
  });

  it("applies every rule of decide to the actor: the use case must allow it, and its conditions hold", () => {
    expect(decideDelegation(policy(), parent(), "stranger", ask(), NOW)).toMatchObject({
      ok: false,
      reason: { code: "use_case_not_allowed" },
    });
    const intent = policy({ conditions: { intent: "required" } });
    expect(decideDelegation(intent, parent(), "actor", ask(), NOW)).toMatchObject({ ok: false, reason: { code: "intent_required" } });
  });
});

describe("delegation in the policy", () => {
  it('"required": only a delegated request gets the use case', () => {
    const narrow = {
      ...base,
      id: "crm.lookup.one",
      actions: ["read"],
      delegation: { ...base.delegation, mode: "required", from: ["crm.lookup"] },
    };
    const compiled = policy({}, [narrow]);
    expect(decide(compiled, "actor", { scope: "crm.lookup.one" }, NOW)).toEqual({
      ok: false,
      reason: { code: "delegation_required", useCase: "crm.lookup.one" },
    });
    expect(decideDelegation(compiled, parent(), "actor", { scope: "crm.lookup.one" }, NOW).ok).toBe(true);
  });

  it.each([
    [{ actors: { nobody: ["actor"] } }, 'use_cases[0].delegation.actors.nobody: unknown agent "nobody"'],
    [{ actors: { subject: ["stranger"] } }, 'use_cases[0].delegation.actors.subject[0]: agent "stranger" may not use this use case'],
    [{ actors: { subject: ["subject"] } }, "use_cases[0].delegation.actors.subject[0]: an agent cannot act for itself"],
    [{ actors: { subject: ["actor"] }, mode: "required" }, "use_cases[0].delegation.from: with mode required"],
    [{ actors: { subject: ["actor"] }, max_depth: 5 }, "use_cases[0].delegation.max_depth"],
  ])("refuses delegation rules that cannot work: %j", (delegation, problem) => {
    expect(() => policy({ delegation })).toThrow(PolicyError);
    try {
      policy({ delegation });
    } catch (error) {
      expect((error as PolicyError).problems.join("\n")).toContain(problem);
    }
  });

  it("refuses a `from` use case narrower than this one: the hop would widen", () => {
    const narrow = { ...base, id: "crm.narrow", actions: ["read"], delegation: undefined };
    expect(() => policy({ delegation: { ...base.delegation, from: ["crm.narrow"] } }, [narrow])).toThrow(
      /delegation.from\[0\]: this use case is wider than "crm.narrow": action "list"/,
    );
  });
});
