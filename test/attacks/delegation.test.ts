/**
 * Delegation (RFC 8693 actor_token, `act`; docs/delegation.md) from the attacker's side: an actor that tries to get
 * more than the subject token grants, at any hop, or to use a subject token that is expired, revoked, forged, for
 * another service or of a disabled agent, or to act where the policy does not let it, or to replay its own proof.
 * Every refusal is pinned on the wire and must leave all three agents' ledgers exactly as they were; the happy path
 * charges both the subject's and the actor's budgets, and a burst of delegated requests never overspends the subject.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { type Agent, type UseCase, UseCaseSchema } from "../../schemas/policy.ts";
import { readConfig } from "../../worker/config.ts";
import { activePolicy } from "../../worker/policy/active-policy.ts";
import { activeKeys } from "../../worker/tokens/signing-keys.ts";
import { testKey } from "../support/access-tokens.ts";
import { type AgentId, assertionFor, jtiOf, nowSeconds } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_READ, CUSTOMERS_TABLE } from "../support/demo-policy.ts";
import { formPost } from "../support/http.ts";
import { type LedgerSnapshot, ledgerSnapshots } from "../support/ledger-snapshot.ts";
import { withRequestLog } from "../support/logs.ts";
import { ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE } from "../support/oauth.ts";
import { accessTokenFor, brokerPostForm, clientAuth, SERVICE_BEARER } from "../support/requests.ts";
import { type ExpectedRefusal, expectIssued, expectRefusal } from "../support/token-checks.ts";
import { postToken, TOKEN_ENDPOINT, type TokenExchangeResult, tokenExchangeForm } from "../support/token-endpoint.ts";

const LOOKUP = "crm.customers.lookup";
const CAPPED = "crm.customers.lookup.capped";
const ORDERS_TABLE = "https://crm.example.com/tables/orders";
const WAREHOUSE_API = "https://warehouse.example.com";
const AGENTS: AgentId[] = ["support-bot", "billing-agent", "report-bot"];
/** The capped use case's daily tokens per agent. */
const CAP = 4;

/** support-bot may let billing-agent act for it, and billing-agent report-bot: two hops at most. */
function lookupUseCase(overrides: Record<string, unknown> = {}): UseCase {
  return UseCaseSchema.parse({
    id: LOOKUP,
    description: "Look up customers and their orders; support-bot may hand it to billing-agent, and billing-agent to report-bot.",
    audiences: [CRM_API, WAREHOUSE_API],
    actions: ["read", "list"],
    locations: [CUSTOMERS_TABLE, ORDERS_TABLE],
    limits: { max_rows: 10 },
    max_ttl_seconds: 300,
    agents: ["support-bot", "billing-agent", "report-bot"],
    delegation: { actors: { "support-bot": ["billing-agent"], "billing-agent": ["report-bot"] }, max_depth: 2 },
    ...overrides,
  });
}

beforeAll(() => {
  // A redeploy with these use cases (the demo policy has one like LOOKUP); the broker reads this isolate's policy.
  const useCases = activePolicy.useCases as Map<string, UseCase>;
  useCases.set(LOOKUP, lookupUseCase());
  useCases.set(CAPPED, lookupUseCase({ id: CAPPED, budget: { daily: { tokens: CAP } } }));
});

/** The subject's own token (token exchange with its assertion); `params` may narrow it. */
async function subjectToken(agent: AgentId = "support-bot", params: Record<string, string> = {}): Promise<string> {
  return expectIssued(await postToken(tokenExchangeForm(await assertionFor(agent), { scope: LOOKUP, ...params })));
}

/** RFC 8693 §2.1 delegation: the Writ token as subject_token, the actor's own assertion as actor_token. */
function delegationForm(subject: string, actorToken: string, params: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams({
    grant_type: TOKEN_EXCHANGE,
    subject_token: subject,
    subject_token_type: ACCESS_TOKEN_TYPE,
    actor_token: actorToken,
    actor_token_type: JWT_TOKEN_TYPE,
    scope: LOOKUP,
    ...params,
  });
}

async function delegate(subject: string, actor: AgentId, params: Record<string, string> = {}): Promise<TokenExchangeResult> {
  return postToken(delegationForm(subject, await assertionFor(actor), params));
}

function claimsOf(token: string): Record<string, unknown> {
  const [, payload] = token.split(".");
  return JSON.parse(atob((payload ?? "").replaceAll("-", "+").replaceAll("_", "/"))) as Record<string, unknown>;
}

/** Signs claims with the broker's current key, as it signs its tokens: for states an honest broker never issues. */
async function signAsBroker(claims: Record<string, unknown>): Promise<string> {
  const { signer } = await activeKeys(env, readConfig(env));
  return new SignJWT(claims).setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: "at+jwt" }).sign(signer.key);
}

/** The claims of a genuine LOOKUP token of support-bot, re-signed with `overrides`. */
async function resigned(overrides: Record<string, unknown>): Promise<string> {
  return signAsBroker({ ...claimsOf(await subjectToken()), jti: crypto.randomUUID(), ...overrides });
}

/** The refusal is exactly `expected` on the wire and in the log, and no ledger changed. */
async function expectRefusedUnspent(send: () => Promise<TokenExchangeResult>, expected: ExpectedRefusal): Promise<void> {
  const before = await ledgerSnapshots(AGENTS);
  expectRefusal(await send(), expected);
  expect(await ledgerSnapshots(AGENTS)).toEqual(before);
}

function usageOf(snapshot: LedgerSnapshot | undefined, useCase: string): number {
  return ((snapshot?.usage ?? []) as { rule: string; used: number }[])
    .filter((row) => row.rule === `use case ${useCase}: ${CAP} tokens per day`)
    .reduce((sum, row) => sum + row.used, 0);
}

describe("a delegated token", () => {
  it("names the subject as sub and the actor in act and client_id, lives no longer than its parent, and is charged to both", async () => {
    const parent = await subjectToken();
    const actorToken = await assertionFor("billing-agent");
    const before = await ledgerSnapshots(AGENTS);
    const result = await postToken(delegationForm(parent, actorToken));
    const token = expectIssued(result);
    expect(result.body).toMatchObject({
      token_type: "Bearer",
      issued_token_type: ACCESS_TOKEN_TYPE,
      scope: LOOKUP,
      authorization_details: [{ use_case: LOOKUP, actions: ["read", "list"], locations: [CUSTOMERS_TABLE, ORDERS_TABLE] }],
    });
    const claims = claimsOf(token);
    expect(claims).toMatchObject({ sub: "support-bot", client_id: "billing-agent", act: { sub: "billing-agent" }, aud: CRM_API });
    expect(claims.exp as number).toBeLessThanOrEqual(claimsOf(parent).exp as number);
    expect(result.log).toMatchObject({ agent: "billing-agent", use_case: LOOKUP });

    const after = await ledgerSnapshots(AGENTS);
    const jti = claims.jti as string;
    expect(after["support-bot"]?.issued_tokens).toContainEqual(expect.objectContaining({ jti, actor: "billing-agent", acted_for: null }));
    expect(after["billing-agent"]?.issued_tokens).toContainEqual(expect.objectContaining({ jti, acted_for: "support-bot", actor: null }));
    expect(after["billing-agent"]?.used_assertions).toContainEqual(expect.objectContaining({ jti: jtiOf(actorToken) }));
    expect(after["report-bot"]).toEqual(before["report-bot"]);

    // The subject's ledger answers for it: /introspect says it is active, and revoking it there ends it.
    const introspect = async () =>
      (await brokerPostForm("/introspect", { token }, SERVICE_BEARER)).json<{ active: boolean; sub?: string; act?: unknown }>();
    expect(await introspect()).toMatchObject({ active: true, sub: "support-bot" });
  });

  it("can be narrowed again by the next actor, with the chain nested nearest first", async () => {
    const first = expectIssued(
      await delegate(await subjectToken(), "billing-agent", { authorization_details: details({ actions: ["read"] }) }),
    );
    const second = expectIssued(await delegate(first, "report-bot"));
    expect(claimsOf(second)).toMatchObject({
      sub: "support-bot",
      client_id: "report-bot",
      act: { sub: "report-bot", act: { sub: "billing-agent" } },
      authorization_details: [{ actions: ["read"] }],
    });
  });

  it("accepts the actor's client authentication in place of an actor_token", async () => {
    const form = new URLSearchParams({
      grant_type: TOKEN_EXCHANGE,
      subject_token: await subjectToken(),
      subject_token_type: ACCESS_TOKEN_TYPE,
      scope: LOOKUP,
      ...(await clientAuth("billing-agent")),
    });
    expect(claimsOf(expectIssued(await postToken(form)))).toMatchObject({ sub: "support-bot", act: { sub: "billing-agent" } });
  });

  it("never outlives its parent: the TTL is cut to the parent's remaining life", async () => {
    const exp = nowSeconds() + 40;
    const token = expectIssued(await delegate(await resigned({ exp }), "billing-agent"));
    expect(claimsOf(token).exp as number).toBeLessThanOrEqual(exp);
  });
});

function details(narrowing: Record<string, unknown>, useCase = LOOKUP): string {
  return JSON.stringify([{ type: "agent_use_case", use_case: useCase, ...narrowing }]);
}

describe("widening at a hop is refused, naming what", () => {
  it("an action the parent does not grant", async () => {
    const parent = await subjectToken("support-bot", { authorization_details: details({ actions: ["read"] }) });
    await expectRefusedUnspent(() => delegate(parent, "billing-agent", { authorization_details: details({ actions: ["list"] }) }), {
      status: 400,
      error: "invalid_authorization_details",
      reason: "delegation_widened",
      description: 'delegation may only narrow: action "list" is not granted by the subject_token',
    });
  });

  it("an action at the second hop", async () => {
    const first = expectIssued(
      await delegate(await subjectToken(), "billing-agent", { authorization_details: details({ actions: ["read"] }) }),
    );
    await expectRefusedUnspent(() => delegate(first, "report-bot", { authorization_details: details({ actions: ["read", "list"] }) }), {
      status: 400,
      error: "invalid_authorization_details",
      reason: "delegation_widened",
      description: 'delegation may only narrow: action "list" is not granted by the subject_token',
    });
  });

  it("a location the parent does not grant", async () => {
    const parent = await subjectToken("support-bot", { authorization_details: details({ locations: [CUSTOMERS_TABLE] }) });
    await expectRefusedUnspent(() => delegate(parent, "billing-agent", { authorization_details: details({ locations: [ORDERS_TABLE] }) }), {
      status: 400,
      error: "invalid_authorization_details",
      reason: "delegation_widened",
      description: `delegation may only narrow: location "${ORDERS_TABLE}" is not granted by the subject_token`,
    });
  });

  it("a use case the parent's cannot be narrowed into", async () => {
    const parent = await accessTokenFor("support-bot", CUSTOMERS_READ);
    await expectRefusedUnspent(() => delegate(parent, "billing-agent"), {
      status: 400,
      error: "invalid_scope",
      reason: "delegation_widened",
      description: `delegation may only narrow: use case "${LOOKUP}" is not granted by the subject_token`,
    });
  });

  it("a larger limit than the parent carries", async () => {
    const parent = await resigned({
      authorization_details: [
        { type: "agent_use_case", use_case: LOOKUP, actions: ["read"], locations: [CUSTOMERS_TABLE], limits: { max_rows: 5 } },
      ],
    });
    await expectRefusedUnspent(() => delegate(parent, "billing-agent"), {
      status: 400,
      error: "invalid_authorization_details",
      reason: "delegation_widened",
      description: 'delegation may only narrow: limit "max_rows" is not granted by the subject_token',
    });
  });

  it("a subject token for another service", async () => {
    const parent = await subjectToken("support-bot", { resource: WAREHOUSE_API });
    await expectRefusedUnspent(() => delegate(parent, "billing-agent", { resource: CRM_API }), {
      status: 400,
      error: "invalid_target",
      reason: "delegation_widened",
      description: `delegation may only narrow: service "${CRM_API}" is not granted by the subject_token`,
    });
  });
});

describe("a subject token that is not good", () => {
  const invalid = (failure: ExpectedRefusal["failure"]): ExpectedRefusal => ({
    status: 400,
    error: "invalid_grant",
    reason: "subject_token_invalid",
    failure,
    description: "subject_token is invalid",
  });

  it("expired", async () => {
    const parent = await resigned({ iat: nowSeconds() - 400, nbf: nowSeconds() - 400, exp: nowSeconds() - 1 });
    await expectRefusedUnspent(() => delegate(parent, "billing-agent"), invalid("expired"));
  });

  it("revoked in the subject's ledger", async () => {
    const parent = await subjectToken();
    await env.AGENT_LEDGER.getByName("support-bot").revoke(claimsOf(parent).jti as string, Date.now());
    await expectRefusedUnspent(() => delegate(parent, "billing-agent"), invalid("revoked"));
  });

  it("forged: the broker's kid, another key", async () => {
    const { signer } = await activeKeys(env, readConfig(env));
    const attacker = await testKey(signer.kid, "ES256");
    const claims = claimsOf(await subjectToken());
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: signer.kid, typ: "at+jwt" }).sign(attacker.privateKey);
    await expectRefusedUnspent(
      () => delegate(forged, "billing-agent"),
      invalid(signer.alg === "ES256" ? "bad_signature" : "algorithm_not_allowed"),
    );
  });

  it("not an access token at all: the subject's own assertion (signed with a key the broker does not have)", async () => {
    await expectRefusedUnspent(async () => delegate(await assertionFor("support-bot"), "billing-agent"), invalid("unknown_key"));
  });

  it("bound to its holder's DPoP key: only the holder may use it", async () => {
    const parent = await resigned({ cnf: { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" } });
    await expectRefusedUnspent(() => delegate(parent, "billing-agent"), invalid("sender_constrained"));
  });

  it("of another issuer", async () => {
    const parent = await resigned({ iss: "https://writ.attacker.example" });
    await expectRefusedUnspent(() => delegate(parent, "billing-agent"), invalid("untrusted_issuer"));
  });
});

describe("the policy's delegation rules", () => {
  it("an actor not allowed to act for that subject", async () => {
    const parent = await subjectToken();
    await expectRefusedUnspent(() => delegate(parent, "report-bot"), {
      status: 403,
      error: "access_denied",
      reason: "delegation_not_allowed",
      description: `delegation: this agent may not act for the subject_token's agent (use case "${LOOKUP}")`,
    });
  });

  it("a chain deeper than allowed", async () => {
    const first = expectIssued(await delegate(await subjectToken(), "billing-agent"));
    const second = expectIssued(await delegate(first, "report-bot"));
    await expectRefusedUnspent(() => delegate(second, "billing-agent"), {
      status: 403,
      error: "access_denied",
      reason: "delegation_not_allowed",
      description: `delegation: the actor chain would be longer than the use case allows (use case "${LOOKUP}")`,
    });
  });

  it("a use case without delegation", async () => {
    const parent = await accessTokenFor("support-bot", CUSTOMERS_READ);
    await expectRefusedUnspent(() => delegate(parent, "billing-agent", { scope: CUSTOMERS_READ }), {
      status: 403,
      error: "access_denied",
      reason: "delegation_not_allowed",
      description: `delegation: this use case does not allow delegation (use case "${CUSTOMERS_READ}")`,
    });
  });
});

describe("the actor's proof", () => {
  it("is burnt: the same actor token replayed is refused, and nothing is spent", async () => {
    const actorToken = await assertionFor("billing-agent");
    expectIssued(await postToken(delegationForm(await subjectToken(), actorToken)));
    const parent = await subjectToken();
    await expectRefusedUnspent(() => postToken(delegationForm(parent, actorToken)), {
      status: 400,
      error: "invalid_grant",
      reason: "actor_token_invalid",
      failure: "replayed",
      description: "actor_token is invalid",
    });
  });

  it("must name the same agent as the client authentication", async () => {
    const parent = await subjectToken();
    const form = delegationForm(parent, await assertionFor("billing-agent"));
    for (const [name, value] of Object.entries(await clientAuth("report-bot"))) form.set(name, value);
    await expectRefusedUnspent(() => postToken(form), {
      status: 400,
      error: "invalid_grant",
      reason: "actor_client_mismatch",
      description: "actor_token and client authentication name different agents",
    });
  });
});

describe("budgets are inherited, not multiplied", () => {
  it("a burst of delegated requests never charges the subject beyond its budget, and charges the actor for each", async () => {
    const parent = await subjectToken("support-bot", { scope: CAPPED });
    const forms = await Promise.all(
      Array.from({ length: 8 }, async () => delegationForm(parent, await assertionFor("billing-agent"), { scope: CAPPED })),
    );
    const { result } = await withRequestLog(() =>
      Promise.all(forms.map(async (form) => (await exports.default.fetch(TOKEN_ENDPOINT, formPost(form))).status)),
    );
    // The parent took one of the subject's CAP tokens: CAP - 1 are left for every actor together.
    expect(result.filter((status) => status === 200)).toHaveLength(CAP - 1);
    expect(result.filter((status) => status === 429)).toHaveLength(8 - (CAP - 1));
    const after = await ledgerSnapshots(AGENTS);
    expect(usageOf(after["support-bot"], CAPPED)).toBe(CAP);
    expect(usageOf(after["billing-agent"], CAPPED)).toBe(CAP - 1);
  });

  it("a hold the actor's ledger refused is given back exactly once, and only a delegated token's", async () => {
    const ledger = env.AGENT_LEDGER.getByName("report-bot");
    const rules = [{ name: "hold test: 10 tokens per day", kind: "daily" as const, unit: "tokens", cap: 10 }];
    const now = Date.now();
    const charge = { jti: crypto.randomUUID(), useCaseId: LOOKUP, units: {}, expiresAt: now + 60_000 };
    expect(await ledger.issue([], { ...charge, actor: "billing-agent" }, rules, now)).toEqual({ ok: true });
    expect(await ledger.issue([], { ...charge, jti: "own-token" }, rules, now)).toEqual({ ok: true });
    const used = () =>
      runInDurableObject(
        ledger,
        (_l, state) =>
          state.storage.sql.exec<{ used: number }>("SELECT SUM(used) AS used FROM usage WHERE rule = ?", rules[0]?.name).one().used,
      );
    expect(await used()).toBe(2);
    expect(await ledger.releaseDelegated(charge.jti, rules, now)).toBe(true);
    expect(await ledger.releaseDelegated(charge.jti, rules, now)).toBe(false);
    expect(await ledger.releaseDelegated("own-token", rules, now)).toBe(false);
    expect(await used()).toBe(1);
    expect(await ledger.tokenStatus(charge.jti, Math.floor(now / 1000))).toEqual({ active: false, reason: "revoked" });
  });

  it("a hold given back late does not move its bucket's time back, so no refill is counted twice", async () => {
    const ledger = env.AGENT_LEDGER.getByName(`late-release-${crypto.randomUUID()}`);
    const rules = [{ name: "late release: 60 a minute", kind: "rate" as const, perMinute: 60, burst: 10 }];
    const now = Date.now();
    const charge = { jti: crypto.randomUUID(), useCaseId: LOOKUP, units: {}, expiresAt: now + 60_000 };
    expect(await ledger.issue([], { ...charge, actor: "billing-agent" }, rules, now)).toEqual({ ok: true });
    // The actor's refusal arrives with the request's older clock: the hold comes back, the stored time stays.
    expect(await ledger.releaseDelegated(charge.jti, rules, now - 30_000)).toBe(true);
    const stored = await runInDurableObject(ledger, (_l, state) =>
      state.storage.sql
        .exec<{ tokens: number; updated_at: number }>("SELECT tokens, updated_at FROM buckets WHERE name = ?", rules[0]?.name)
        .one(),
    );
    expect(stored).toEqual({ tokens: 10, updated_at: now });
  });
});

describe("a disabled subject", () => {
  it("its tokens cannot be delegated while its kill switch is on", async () => {
    const parent = await subjectToken();
    const ledger = env.AGENT_LEDGER.getByName("support-bot");
    await ledger.setDisabled(true, Date.now());
    try {
      await expectRefusedUnspent(() => delegate(parent, "billing-agent"), {
        status: 403,
        error: "access_denied",
        reason: "agent_disabled",
        description: "agent is disabled",
      });
    } finally {
      await ledger.setDisabled(false, Date.now());
    }
    // Switched on again, the old token stays dead: it was issued before the kill switch.
    await expectRefusedUnspent(() => delegate(parent, "billing-agent"), {
      status: 400,
      error: "invalid_grant",
      reason: "subject_token_invalid",
      failure: "revoked",
      description: "subject_token is invalid",
    });
  });
});

describe("the rest of the chain (support-bot → billing-agent → report-bot)", () => {
  const disabled: ExpectedRefusal = { status: 403, error: "access_denied", reason: "agent_disabled", description: "agent is disabled" };
  const revoked: ExpectedRefusal = {
    status: 400,
    error: "invalid_grant",
    reason: "subject_token_invalid",
    failure: "revoked",
    description: "subject_token is invalid",
  };

  it("an earlier actor switched off: no new token is derived in its name", async () => {
    const first = expectIssued(await delegate(await subjectToken(), "billing-agent"));
    const ledger = env.AGENT_LEDGER.getByName("billing-agent");
    await ledger.setDisabled(true, Date.now());
    try {
      await expectRefusedUnspent(() => delegate(first, "report-bot"), disabled);
    } finally {
      await ledger.setDisabled(false, Date.now());
    }
    // Switched on again, the chain may go on: the subject token is the subject's, and it is still good.
    expectIssued(await delegate(first, "report-bot"));
  });

  it("an earlier actor retired by the policy: refused the same way", async () => {
    const first = expectIssued(await delegate(await subjectToken(), "billing-agent"));
    const agents = activePolicy.agents as Map<string, Agent>;
    const billing = agents.get("billing-agent") as Agent;
    agents.set("billing-agent", { ...billing, status: "disabled" });
    try {
      await expectRefusedUnspent(() => delegate(first, "report-bot"), disabled);
    } finally {
      agents.set("billing-agent", billing);
    }
  });

  it("the subject's original token revoked: nothing more is derived from its children", async () => {
    const root = await subjectToken();
    const first = expectIssued(await delegate(root, "billing-agent"));
    await env.AGENT_LEDGER.getByName("support-bot").revoke(claimsOf(root).jti as string, Date.now());
    await expectRefusedUnspent(() => delegate(first, "report-bot"), revoked);
  });

  it("the subject's original token revoked: its children and grandchildren are inactive at /introspect", async () => {
    const root = await subjectToken();
    const first = expectIssued(await delegate(root, "billing-agent"));
    const second = expectIssued(await delegate(first, "report-bot"));
    const introspect = async (token: string) =>
      (await brokerPostForm("/introspect", { token }, SERVICE_BEARER)).json<{ active: boolean }>();
    expect(await introspect(first)).toMatchObject({ active: true });
    expect(await introspect(second)).toMatchObject({ active: true });
    await env.AGENT_LEDGER.getByName("support-bot").revoke(claimsOf(root).jti as string, Date.now());
    const before = await ledgerSnapshots(AGENTS);
    expect(await introspect(first)).toEqual({ active: false });
    expect(await introspect(second)).toEqual({ active: false });
    expect(await ledgerSnapshots(AGENTS)).toEqual(before);
    // In the subject's ledger, each token of the chain names the one it was derived from.
    const rows = before["support-bot"]?.issued_tokens as { jti: string; parent: string | null }[];
    expect(rows.find((row) => row.jti === claimsOf(second).jti)?.parent).toBe(claimsOf(first).jti);
    expect(rows.find((row) => row.jti === claimsOf(first).jti)?.parent).toBe(claimsOf(root).jti);
  });

  it("a child revoked: its parent stays active, and so do its siblings", async () => {
    const root = await subjectToken();
    const first = expectIssued(await delegate(root, "billing-agent"));
    const sibling = expectIssued(await delegate(root, "billing-agent"));
    await env.AGENT_LEDGER.getByName("support-bot").revoke(claimsOf(first).jti as string, Date.now());
    const ledger = env.AGENT_LEDGER.getByName("support-bot");
    expect(await ledger.tokenStatus(claimsOf(first).jti as string, nowSeconds())).toEqual({ active: false, reason: "revoked" });
    expect(await ledger.tokenStatus(claimsOf(root).jti as string, nowSeconds())).toEqual({ active: true });
    expect(await ledger.tokenStatus(claimsOf(sibling).jti as string, nowSeconds())).toEqual({ active: true });
    await ledger.revoke(claimsOf(root).jti as string, Date.now());
    expect(await ledger.tokenStatus(claimsOf(sibling).jti as string, nowSeconds())).toEqual({ active: false, reason: "ancestor_inactive" });
  });
});
