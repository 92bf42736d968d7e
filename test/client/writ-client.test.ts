/**
 * The agent SDK against the real broker (its own fetch handler): discovery, private_key_jwt, token exchange, the
 * cache, typed refusals carrying the request id, and the human approval through the approver's real page.
 */
import { exports } from "cloudflare:workers";
import { decodeJwt, exportJWK, generateKeyPair, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import {
  type Clock,
  type FetchLike,
  type PendingApproval,
  WritApprovalDenied,
  WritClient,
  WritDenied,
  WritInvalidClient,
  WritRateLimited,
} from "../../client/index.ts";
import { type AgentId, agentPrivateJwk, ISSUER } from "../support/assertions.ts";
import type { SentMail } from "../support/ciba.ts";
import { CRM_API, CUSTOMERS_EXPORT, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { formOf } from "../support/html.ts";
import { formPost } from "../support/http.ts";
import { CIBA_GRANT } from "../support/oauth.ts";
import { rejectionOf } from "../support/rejection.ts";
import { brokerJwks } from "../support/requests.ts";

const REFUND = "billing.invoices.refund";
const BILLING_API = "https://billing.example.com";
const METADATA_PATH = "/.well-known/oauth-authorization-server";

type Call = { url: string; method: string; form: URLSearchParams; response: Response };

/** A fetch to the broker that records every call and the response the SDK got. */
function recordingFetch(): { fetch: FetchLike; calls: Call[] } {
  const calls: Call[] = [];
  const fetch: FetchLike = async (url, init) => {
    const response = await exports.default.fetch(url, init);
    calls.push({ url, method: init.method, form: new URLSearchParams(init.body ?? ""), response: response.clone() });
    return response;
  };
  return { fetch, calls };
}

function client(agentId: AgentId, fetch: FetchLike, clock?: Clock): WritClient {
  return new WritClient({ issuer: ISSUER, agentId, key: agentPrivateJwk(agentId), fetch, ...(clock ? { clock } : {}) });
}

/** Real time for assertions; sleeps end at once and are recorded, and a test may act at each one. */
function fakeSleepClock(onSleep: (ms: number) => void = () => {}): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => Date.now(),
    async sleep(ms, signal) {
      sleeps.push(ms);
      onSleep(ms);
      signal?.throwIfAborted();
    },
  };
}

/**
 * One approver decides as a browser would: the mail about `intent` from the dev outbox, its link opened (GET decides
 * nothing), the page's form submitted. Returns the approval id the mail names.
 */
async function decideThroughPage(intent: string, approver: string, decision: "approve" | "deny"): Promise<string> {
  const listed = await exports.default.fetch(`${ISSUER}/dev/outbox.json?to=${encodeURIComponent(approver)}`);
  const { mails } = await listed.json<{ mails: SentMail[] }>();
  const mail = mails.find((m) => m.text.includes(intent));
  if (!mail) throw new Error(`no approval mail to ${approver} about "${intent}"`);
  const link = new URL(mail.link);
  const page = await exports.default.fetch(`${ISSUER}${link.pathname}${link.search}`);
  expect(page.status).toBe(200);
  const form = await formOf(await page.text(), decision === "approve" ? "approve-form" : "deny-form");
  const decided = await exports.default.fetch(`${ISSUER}/approvals/${mail.approvalId}`, formPost(form));
  expect(decided.status).toBe(200);
  return mail.approvalId;
}

describe("WritClient: a token by discovery, private_key_jwt and token exchange", () => {
  it("discovers the token endpoint, then exchanges a private_key_jwt assertion (aud = the issuer) for a verified token", async () => {
    const { fetch, calls } = recordingFetch();
    const writ = client("support-bot", fetch);

    const token = await writ.token({ useCase: CUSTOMERS_READ, intent: "look up the customer on ticket SUP-42" });

    expect(calls.map((c) => `${c.method} ${new URL(c.url).pathname}`)).toEqual([`GET ${METADATA_PATH}`, "POST /token"]);
    const form = calls[1]?.form ?? new URLSearchParams();
    expect(form.get("grant_type")).toBe("urn:ietf:params:oauth:grant-type:token-exchange");
    expect(form.get("client_id")).toBe("support-bot");
    expect(form.get("client_assertion_type")).toBe("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    expect(form.get("subject_token")).toBe(form.get("client_assertion"));
    expect(form.get("scope")).toBe(CUSTOMERS_READ);
    const assertion = decodeJwt(form.get("client_assertion") ?? "");
    expect(assertion).toMatchObject({ iss: "support-bot", sub: "support-bot", aud: ISSUER });
    expect((assertion.exp ?? 0) - (assertion.iat ?? 0)).toBe(60);

    expect(token).toMatchObject({ tokenType: "Bearer", scope: CUSTOMERS_READ });
    expect(token.expiresAt).toBeGreaterThan(Date.now() + 240_000);
    const { payload } = await jwtVerify(token.accessToken, await brokerJwks(), { issuer: ISSUER, audience: CRM_API, typ: "at+jwt" });
    expect(payload).toMatchObject({ sub: "support-bot", scope: CUSTOMERS_READ, intent: "look up the customer on ticket SUP-42" });
  });

  it("narrows to actions and locations with authorization_details, and names the service with resource", async () => {
    const { fetch, calls } = recordingFetch();
    const token = await client("support-bot", fetch).token({
      useCase: CUSTOMERS_READ,
      actions: ["read"],
      locations: ["https://crm.example.com/tables/customers"],
      resource: CRM_API,
    });

    const form = calls[1]?.form ?? new URLSearchParams();
    expect(form.get("scope")).toBeNull();
    expect(JSON.parse(form.get("authorization_details") ?? "")).toEqual([
      { type: "agent_use_case", use_case: CUSTOMERS_READ, actions: ["read"], locations: ["https://crm.example.com/tables/customers"] },
    ]);
    expect(form.get("resource")).toBe(CRM_API);
    expect(token.authorizationDetails).toMatchObject([{ type: "agent_use_case", use_case: CUSTOMERS_READ, actions: ["read"] }]);
  });

  it("serves the same request from its cache: the second call sends nothing, a different intent asks again", async () => {
    const { fetch, calls } = recordingFetch();
    const writ = client("support-bot", fetch);
    const request = { useCase: CUSTOMERS_READ, intent: "ticket SUP-43", context: { ticket: "SUP-43", priority: 2 } };

    const first = await writ.token(request);
    const second = await writ.token({ ...request, context: { priority: 2, ticket: "SUP-43" } });
    expect(second).toBe(first);
    expect(calls).toHaveLength(2);

    const other = await writ.token({ ...request, intent: "ticket SUP-44" });
    expect(other.accessToken).not.toBe(first.accessToken);
    // The metadata is cached too: only one more POST /token.
    expect(calls.map((c) => new URL(c.url).pathname)).toEqual([METADATA_PATH, "/token", "/token"]);
  });

  it("shares one round trip among concurrent calls of the same request (one budget charge, not three)", async () => {
    const { fetch, calls } = recordingFetch();
    const writ = client("support-bot", fetch);

    const tokens = await Promise.all([1, 2, 3].map(() => writ.token({ useCase: CUSTOMERS_READ, intent: "parallel tool calls" })));

    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
    expect(calls.filter((c) => new URL(c.url).pathname === "/token")).toHaveLength(1);
  });
});

describe("WritClient: refusals are typed and carry the broker's request id", () => {
  it("a policy condition: WritDenied names the rule", async () => {
    const { fetch, calls } = recordingFetch();

    const error = await rejectionOf(
      client("support-bot", fetch).token({ useCase: CUSTOMERS_EXPORT, intent: "export for SUP-7" }),
      WritDenied,
    );

    const refusal = calls.at(-1)?.response;
    expect(refusal?.status).toBe(403);
    expect(error).toMatchObject({
      code: "ERR_WRIT_DENIED",
      status: 403,
      error: "access_denied",
      rule: "condition context.ticket: required context is missing",
      requestId: refusal?.headers.get("x-request-id"),
    });
    expect(error.requestId).toMatch(/\S/);
    expect(error.message).toContain(error.requestId);
    expect(error.message).toContain(CUSTOMERS_EXPORT);
  });

  it("a use case the agent may not use: WritDenied with invalid_scope", async () => {
    const error = await rejectionOf(
      client("support-bot", recordingFetch().fetch).token({ useCase: REFUND, intent: "refund it myself" }),
      WritDenied,
    );
    expect(error).toMatchObject({ error: "invalid_scope", rule: `use case "${REFUND}" is not allowed for this agent` });
  });

  it("a spent budget: WritRateLimited with retryAfter from Retry-After", async () => {
    const { fetch, calls } = recordingFetch();
    const writ = client("support-bot", fetch);
    let limited: WritRateLimited | undefined;
    // crm.customers.search allows a burst of 3; each intent is its own request, so none is served from the cache.
    for (let i = 0; i < 10 && limited === undefined; i++) {
      await writ.token({ useCase: "crm.customers.search", intent: `search ${i}` }).catch((error: unknown) => {
        if (!(error instanceof WritRateLimited)) throw error;
        limited = error;
      });
    }

    const refusal = calls.at(-1)?.response;
    expect(refusal?.status).toBe(429);
    expect(limited).toMatchObject({
      code: "ERR_WRIT_RATE_LIMITED",
      error: "rate_limited",
      retryAfter: Number(refusal?.headers.get("retry-after")),
      requestId: refusal?.headers.get("x-request-id"),
    });
    expect(limited?.retryAfter).toBeGreaterThan(0);
    expect(limited?.errorDescription).toContain("crm.customers.search");
  });

  it("a key the policy does not register: WritInvalidClient, whose one line says what to check", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const stranger = { ...(await exportJWK(privateKey)), kid: "support-bot-1", alg: "ES256" };
    const writ = new WritClient({ issuer: ISSUER, agentId: "support-bot", key: stranger, fetch: recordingFetch().fetch });

    const error = await rejectionOf(writ.token({ useCase: CUSTOMERS_READ }), WritInvalidClient);

    expect(error).toMatchObject({ code: "ERR_WRIT_INVALID_CLIENT", status: 401, error: "invalid_client", requestId: expect.any(String) });
    expect(error.message).not.toContain("\n");
    expect(error.message).toContain(`issuer is spelled exactly as the broker's ("${ISSUER}")`);
    expect(error.message).toContain('key "support-bot-1" is registered to "support-bot"');
    expect(error.message).toContain("clock");
  });
});

describe("WritClient: human approval (OpenID CIBA, poll mode)", () => {
  it("starts an approval, tells onPending, and once the approvers agree on their page, returns the approved token", async () => {
    const { fetch, calls } = recordingFetch();
    const clock = fakeSleepClock();
    const intent = "refund invoice INV-77 (charged twice)";
    const pending: PendingApproval[] = [];
    let approvalId = "";

    const token = await client("billing-agent", fetch, clock).token({
      useCase: REFUND,
      intent,
      bindingMessage: "INV-77",
      onPending: async (update) => {
        pending.push(update);
        // The agent tells its user; meanwhile a quorum (dana, and erin from finance) approves.
        approvalId = await decideThroughPage(intent, "dana@example.com", "approve");
        await decideThroughPage(intent, "erin@example.com", "approve");
      },
    });

    expect(pending).toEqual([
      {
        authReqId: expect.any(String),
        expiresIn: expect.any(Number),
        expiresAt: expect.any(Number),
        interval: 5,
        polls: 0,
        useCase: REFUND,
        intent,
      },
    ]);
    expect(pending[0]?.expiresIn).toBeGreaterThan(800);
    expect(calls.map((c) => `${new URL(c.url).pathname} ${c.response.status}`)).toEqual([
      `${METADATA_PATH} 200`,
      "/token 403",
      "/bc-authorize 200",
      "/token 200",
    ]);
    expect(calls[2]?.form.get("binding_message")).toBe("INV-77");
    expect(calls[3]?.form.get("grant_type")).toBe(CIBA_GRANT);
    // CIBA §7.3: the client waits the interval before it polls.
    expect(clock.sleeps).toEqual([5000]);
    const { payload } = await jwtVerify(token.accessToken, await brokerJwks(), { issuer: ISSUER, audience: BILLING_API, typ: "at+jwt" });
    expect(payload).toMatchObject({
      sub: "billing-agent",
      scope: REFUND,
      intent,
      approval: { id: approvalId, approved_by: ["dana@example.com", "erin@example.com"] },
    });
  });

  it("honours slow_down: 5 more seconds between polls from then on (fake clock), and stops when aborted", async () => {
    const stop = new AbortController();
    // Polls arrive faster than the broker's 5 s (the fake clock does not wait), so the second is told to slow down.
    const clock = fakeSleepClock((ms) => {
      if (ms > 5000) stop.abort(new Error("the user gave up"));
    });
    const pending: PendingApproval[] = [];

    const aborted = await rejectionOf(
      client("billing-agent", recordingFetch().fetch, clock).token({
        useCase: REFUND,
        intent: "refund invoice INV-78",
        signal: stop.signal,
        onPending: (update) => void pending.push(update),
      }),
      Error,
    );

    expect(aborted.message).toBe("the user gave up");
    expect(clock.sleeps).toEqual([5000, 5000, 10000]);
    expect(pending.map((p) => [p.polls, p.interval])).toEqual([
      [0, 5],
      [1, 5],
      [2, 10],
    ]);
    await decideThroughPage("refund invoice INV-78", "frank@example.com", "deny");
  });

  it("an approver's deny: WritApprovalDenied with the poll's request id", async () => {
    const { fetch, calls } = recordingFetch();

    const error = await rejectionOf(
      client("billing-agent", fetch, fakeSleepClock()).token({
        useCase: REFUND,
        intent: "refund invoice INV-79 in full",
        onPending: async () => void (await decideThroughPage("refund invoice INV-79 in full", "frank@example.com", "deny")),
      }),
      WritApprovalDenied,
    );

    const poll = calls.at(-1)?.response;
    expect(poll?.status).toBe(403);
    expect(error).toMatchObject({
      code: "ERR_WRIT_APPROVAL_DENIED",
      error: "access_denied",
      errorDescription: "an approver denied the request",
      requestId: poll?.headers.get("x-request-id"),
    });
  });
});
