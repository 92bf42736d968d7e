/**
 * Concurrent token requests of one agent share ledger round trips (worker/grants/ledger-issue.ts, issue #15), in the
 * real broker run by workerd: the workers test pool cannot run that path (it serves requests inside a Durable
 * Object), so the races of test/attacks and test/worker/budgets.test.ts are run here again through it. Each request
 * must still get its own answer, and a batch must not weaken replay protection, budgets or the record of a token.
 */
import { randomUUID } from "node:crypto";
import { createRemoteJWKSet, decodeJwt, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signAgentAssertion } from "../../client/index.ts";
import { DEV_VARS } from "../../scripts/dev-vars.ts";
import { type Broker, startBroker } from "../../scripts/local-broker.ts";
import { agentPrivateJwk } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { clientCredentialsParams, tokenExchangeParams } from "../support/oauth.ts";

const SEARCH = "crm.customers.search";
const CRM_SECRET = JSON.parse(DEV_VARS.SERVICE_CREDENTIALS)[CRM_API] as string;

let broker: Broker;

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await broker?.dispose();
});

type Answer = { status: number; body: Record<string, unknown>; log: Record<string, unknown> };

async function assertion(): Promise<string> {
  return signAgentAssertion({ agentId: "support-bot", key: agentPrivateJwk("support-bot"), audience: broker.url });
}

/** Sends every form at once and returns each answer with its request's log line. */
async function race(forms: Record<string, string>[]): Promise<Answer[]> {
  return Promise.all(
    forms.map(async (form) => {
      const requestId = randomUUID();
      const response = await fetch(`${broker.url}/token`, {
        method: "POST",
        body: new URLSearchParams(form),
        headers: { "cf-ray": requestId },
      });
      const body = (await response.json()) as Record<string, unknown>;
      return { status: response.status, body, log: await broker.requestLog(requestId) };
    }),
  );
}

async function introspect(token: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${broker.url}/introspect`, {
    method: "POST",
    body: new URLSearchParams({ token }),
    headers: { authorization: `Bearer ${CRM_SECRET}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

describe("one agent's concurrent token requests, batched into shared ledger round trips", () => {
  it("answers each of 40 parallel requests with its own recorded token, several of them sharing a round trip", async () => {
    const forms = await Promise.all(
      Array.from({ length: 40 }, async () => clientCredentialsParams(await assertion(), { scope: CUSTOMERS_READ })),
    );

    const answers = await race(forms);

    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200));
    const jwks = createRemoteJWKSet(new URL(`${broker.url}/.well-known/jwks.json`));
    const jtis = new Set<string>();
    for (const { body, log } of answers) {
      const token = String(body.access_token);
      const { payload } = await jwtVerify(token, jwks, { issuer: broker.url, audience: CRM_API });
      jtis.add(String(payload.jti));
      expect(log).toMatchObject({ status: 200, decision: "issued", token_jti: payload.jti, ledger_batch: expect.any(Number) });
    }
    expect(jtis.size).toBe(40);
    // The path under test was taken: without load in flight a request goes alone, with it requests go together.
    const batches = answers.map((a) => a.log.ledger_batch as number);
    expect(Math.max(...batches)).toBeGreaterThan(1);
    // Every token is on its ledger's books, whichever batch carried it.
    const statuses = await Promise.all(answers.map((a) => introspect(String(a.body.access_token))));
    expect(statuses.map((s) => s.active)).toEqual(Array(40).fill(true));
  });

  it("issues exactly one token when 10 requests race with one assertion, whether or not they share a batch", async () => {
    const shared = await assertion();
    const forms = Array.from({ length: 10 }, (_, i) =>
      i % 2 === 0 ? clientCredentialsParams(shared, { scope: CUSTOMERS_READ }) : tokenExchangeParams(shared, { scope: CUSTOMERS_READ }),
    );

    const answers = await race(forms);

    const issued = answers.filter((a) => a.status === 200);
    expect(issued).toHaveLength(1);
    // The winner's own token is the one on the books: an answer handed to another caller would show here.
    expect(await introspect(String(issued[0]?.body.access_token))).toMatchObject({ active: true, sub: "support-bot" });
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused).toHaveLength(9);
    for (const { status, body, log } of refused) {
      // A replayed client assertion fails client authentication (401), a replayed subject token the grant (400).
      expect([status, body.error]).toEqual(body.error === "invalid_client" ? [401, "invalid_client"] : [400, "invalid_grant"]);
      expect(log.failure).toBe("replayed");
      expect(log).not.toHaveProperty("token_jti");
    }
    expect(decodeJwt(String(issued[0]?.body.access_token)).sub).toBe("support-bot");
  });

  it("spends a burst of 3 exactly when 12 budgeted requests arrive together", async () => {
    const forms = await Promise.all(Array.from({ length: 12 }, async () => tokenExchangeParams(await assertion(), { scope: SEARCH })));

    const answers = await race(forms);

    const issued = answers.filter((a) => a.status === 200);
    expect(issued).toHaveLength(3);
    const statuses = await Promise.all(issued.map((a) => introspect(String(a.body.access_token))));
    expect(statuses.map((s) => s.active)).toEqual([true, true, true]);
    const limited = answers.filter((a) => a.status === 429);
    expect(limited).toHaveLength(9);
    for (const { body } of limited) expect(body.error).toBe("rate_limited");
  });

  it("keeps serving an agent promptly after clients hung up in the middle of its batched requests", async () => {
    const doomed = await Promise.all(
      Array.from({ length: 30 }, async () => clientCredentialsParams(await assertion(), { scope: CUSTOMERS_READ })),
    );
    const hangUps = doomed.map(async (form, i) => {
      const abort = new AbortController();
      const sent = fetch(`${broker.url}/token`, { method: "POST", body: new URLSearchParams(form), signal: abort.signal });
      if (i % 2 === 0) setTimeout(() => abort.abort(), 1 + (i % 7));
      return sent.then(
        (response) => response.status,
        () => "hung up",
      );
    });
    const outcomes = await Promise.all(hangUps);
    expect(outcomes.filter((o) => o === "hung up").length).toBeGreaterThan(0);

    const forms = await Promise.all(
      Array.from({ length: 10 }, async () => clientCredentialsParams(await assertion(), { scope: CUSTOMERS_READ })),
    );
    const answers = await race(forms);
    // A call held back by something the hung-up requests left behind would fail at the batcher's deadline with a 500.
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    const statuses = await Promise.all(answers.map((a) => introspect(String(a.body.access_token))));
    expect(statuses.map((s) => s.active)).toEqual(Array(10).fill(true));
  });
});
