/**
 * The SDK's own rules, against a scripted broker: every wire error's class, caller misuse, the cache's clock,
 * discovery checks, and the approval outcomes a real broker takes minutes to reach.
 */
import { describe, expect, it, vi } from "vitest";
import {
  type Clock,
  type FetchLike,
  metadataUrl,
  WritApprovalDenied,
  WritApprovalExpired,
  WritApprovalRequired,
  WritBrokerUnavailable,
  WritClient,
  WritDenied,
  WritDiscoveryFailed,
  WritError,
  type WritErrorCode,
  WritInvalidClient,
  WritInvalidRequest,
  WritRateLimited,
  WritTokenError,
  WritUnexpectedResponse,
} from "../../client/index.ts";
import { agentPrivateJwk } from "../support/assertions.ts";
import { rejectionOf } from "../support/rejection.ts";

const ISSUER = "https://writ.example.com";
const METADATA = {
  issuer: ISSUER,
  token_endpoint: `${ISSUER}/token`,
  backchannel_authentication_endpoint: `${ISSUER}/bc-authorize`,
};

type Handler = (path: string, form: URLSearchParams) => Response | Promise<Response>;

/** A broker that answers discovery itself and every POST with `handler`; it counts the POSTs. */
function scriptedBroker(handler: Handler, metadata: Record<string, unknown> = METADATA): { fetch: FetchLike; posts: string[] } {
  const posts: string[] = [];
  const fetch: FetchLike = async (url, init) => {
    const path = new URL(url).pathname;
    if (init.method === "GET") return Response.json(metadata);
    posts.push(path);
    return handler(path, new URLSearchParams(init.body ?? ""));
  };
  return { fetch, posts };
}

function refusal(status: number, error: string, description?: string, headers: Record<string, string> = {}): Response {
  return Response.json(
    { error, ...(description === undefined ? {} : { error_description: description }) },
    { status, headers: { "x-request-id": "req-1", ...headers } },
  );
}

function tokenResponse(expiresIn = 300, accessToken = `at-${crypto.randomUUID()}`): Response {
  return Response.json({ access_token: accessToken, token_type: "Bearer", expires_in: expiresIn, scope: "crm.customers.read" });
}

function manualClock(start = Date.UTC(2027, 0, 15, 9, 0, 0)): Clock & { advance(ms: number): void; sleeps: number[] } {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    advance(ms) {
      now += ms;
    },
    async sleep(ms, signal) {
      signal?.throwIfAborted();
      sleeps.push(ms);
      now += ms;
    },
  };
}

function writWith(fetch: FetchLike, clock?: Clock): WritClient {
  return new WritClient({
    issuer: ISSUER,
    agentId: "support-bot",
    key: agentPrivateJwk("support-bot"),
    fetch,
    ...(clock ? { clock } : {}),
  });
}

describe("refusals: one class and one stable code per wire error", () => {
  const cases: [status: number, error: string, type: abstract new (...args: never[]) => WritError, code: WritErrorCode][] = [
    [401, "invalid_client", WritInvalidClient, "ERR_WRIT_INVALID_CLIENT"],
    [400, "invalid_grant", WritInvalidClient, "ERR_WRIT_INVALID_CLIENT"],
    [403, "access_denied", WritDenied, "ERR_WRIT_DENIED"],
    [400, "invalid_scope", WritDenied, "ERR_WRIT_DENIED"],
    [400, "invalid_target", WritDenied, "ERR_WRIT_DENIED"],
    [400, "invalid_authorization_details", WritDenied, "ERR_WRIT_DENIED"],
    [429, "rate_limited", WritRateLimited, "ERR_WRIT_RATE_LIMITED"],
    [400, "invalid_request", WritInvalidRequest, "ERR_WRIT_INVALID_REQUEST"],
    [400, "unsupported_grant_type", WritInvalidRequest, "ERR_WRIT_INVALID_REQUEST"],
    [503, "temporarily_unavailable", WritBrokerUnavailable, "ERR_WRIT_BROKER_UNAVAILABLE"],
    [500, "server_error", WritBrokerUnavailable, "ERR_WRIT_BROKER_UNAVAILABLE"],
    [400, "something_new", WritUnexpectedResponse, "ERR_WRIT_UNEXPECTED_RESPONSE"],
  ];
  for (const [status, error, type, code] of cases) {
    it(`maps ${status} ${error} to ${type.name} (${code}) with the request id`, async () => {
      const { fetch } = scriptedBroker(() => refusal(status, error, "the rule"));
      const thrown = await rejectionOf(writWith(fetch).token({ useCase: "crm.customers.read" }), type);
      expect(thrown).toMatchObject({ code, status, error, requestId: "req-1" });
      expect(thrown).toBeInstanceOf(WritError);
      // The first helper's name still catches them all.
      expect(thrown).toBeInstanceOf(WritTokenError);
      expect(thrown.message).toContain("req-1");
    });
  }

  it("reads Retry-After as seconds or as an HTTP date", async () => {
    const clock = manualClock();
    const date = new Date(clock.now() + 90_000).toUTCString();
    const { fetch } = scriptedBroker(() => refusal(429, "rate_limited", "budget exhausted: daily tokens", { "retry-after": date }));
    const thrown = await rejectionOf(writWith(fetch, clock).token({ useCase: "crm.customers.read" }), WritRateLimited);
    expect(thrown.retryAfter).toBe(90);
    expect(thrown.message).toContain("retry in 90 s");
  });

  it("says approval_required as WritApprovalRequired when asked not to wait, and starts nothing", async () => {
    const { fetch, posts } = scriptedBroker(() => refusal(403, "approval_required", 'use case "x" needs human approval'));
    const thrown = await rejectionOf(writWith(fetch).token({ useCase: "billing.invoices.refund", approval: "fail" }), WritApprovalRequired);
    expect(thrown.code).toBe("ERR_WRIT_APPROVAL_REQUIRED");
    expect(posts).toEqual(["/token"]);
  });

  it("a broker out of reach: WritBrokerUnavailable with the cause", async () => {
    const down = new TypeError("fetch failed");
    const fetch: FetchLike = () => Promise.reject(down);
    const thrown = await rejectionOf(writWith(fetch).token({ useCase: "crm.customers.read" }), WritBrokerUnavailable);
    expect(thrown.cause).toBe(down);
    expect(thrown.message).toContain(metadataUrl(ISSUER));
  });

  it("a 200 that is no token response: WritUnexpectedResponse", async () => {
    const { fetch } = scriptedBroker(() => Response.json({ hello: "world" }));
    await rejectionOf(writWith(fetch).token({ useCase: "crm.customers.read" }), WritUnexpectedResponse);
  });
});

describe("approval outcomes", () => {
  function approvalBroker(pollAnswers: (() => Response)[]): { fetch: FetchLike; posts: string[] } {
    return scriptedBroker((path, form) => {
      if (path === "/bc-authorize") return Response.json({ auth_req_id: "ap1.secret", expires_in: 600, interval: 2 });
      if (form.get("grant_type") !== "urn:openid:params:grant-type:ciba") return refusal(403, "approval_required");
      const next = pollAnswers.shift();
      if (!next) throw new Error("polled more than scripted");
      return next();
    });
  }

  it("waits interval seconds between polls, 5 more after each slow_down, and returns the approved token", async () => {
    const clock = manualClock();
    const { fetch } = approvalBroker([
      () => refusal(400, "authorization_pending"),
      () => refusal(400, "slow_down"),
      () => refusal(400, "authorization_pending"),
      () => tokenResponse(300, "approved"),
    ]);
    const polls: number[] = [];
    const token = await writWith(fetch, clock).token({ useCase: "billing.invoices.refund", onPending: (p) => void polls.push(p.polls) });
    expect(token.accessToken).toBe("approved");
    expect(clock.sleeps).toEqual([2000, 2000, 7000, 7000]);
    expect(polls).toEqual([0, 1, 2, 3]);
  });

  it("an expired request: WritApprovalExpired", async () => {
    const { fetch } = approvalBroker([
      () => refusal(400, "authorization_pending"),
      () => refusal(400, "expired_token", "the approval request expired"),
    ]);
    const thrown = await rejectionOf(writWith(fetch, manualClock()).token({ useCase: "billing.invoices.refund" }), WritApprovalExpired);
    expect(thrown).toMatchObject({ code: "ERR_WRIT_APPROVAL_EXPIRED", error: "expired_token", requestId: "req-1" });
  });

  it("a token already collected (invalid_grant at a poll): WritApprovalExpired, not an identity failure", async () => {
    const { fetch } = approvalBroker([() => refusal(400, "invalid_grant", "the token for this approval was already issued")]);
    await rejectionOf(writWith(fetch, manualClock()).token({ useCase: "billing.invoices.refund" }), WritApprovalExpired);
  });

  it("a cancelled request (access_denied at a poll): WritApprovalDenied", async () => {
    const { fetch } = approvalBroker([() => refusal(403, "access_denied", "the request was cancelled")]);
    const thrown = await rejectionOf(writWith(fetch, manualClock()).token({ useCase: "billing.invoices.refund" }), WritApprovalDenied);
    expect(thrown.errorDescription).toBe("the request was cancelled");
  });

  it("rides out one unreachable poll, since the approval lives on at the broker", async () => {
    let failed = false;
    const { fetch: broker } = approvalBroker([() => tokenResponse(300, "after-a-blip")]);
    const fetch: FetchLike = (url, init) => {
      if (!failed && new URLSearchParams(init.body ?? "").get("grant_type") === "urn:openid:params:grant-type:ciba") {
        failed = true;
        return Promise.reject(new TypeError("connection reset"));
      }
      return broker(url, init);
    };
    const token = await writWith(fetch, manualClock()).token({ useCase: "billing.invoices.refund" });
    expect(token.accessToken).toBe("after-a-blip");
  });

  it("too many open approvals at /bc-authorize: WritRateLimited", async () => {
    const { fetch } = scriptedBroker((path) =>
      path === "/bc-authorize"
        ? refusal(429, "rate_limited", "too many open approval requests for this agent", { "retry-after": "30" })
        : refusal(403, "approval_required"),
    );
    const thrown = await rejectionOf(writWith(fetch).token({ useCase: "billing.invoices.refund" }), WritRateLimited);
    expect(thrown.retryAfter).toBe(30);
  });
});

describe("the cache", () => {
  it("keeps a token until 30 s before it expires, then asks again", async () => {
    const clock = manualClock();
    const { fetch, posts } = scriptedBroker(() => tokenResponse(300));
    const writ = writWith(fetch, clock);
    const first = await writ.token({ useCase: "crm.customers.read" });
    clock.advance(269_000);
    expect(await writ.token({ useCase: "crm.customers.read" })).toBe(first);
    clock.advance(1_000);
    expect(await writ.token({ useCase: "crm.customers.read" })).not.toBe(first);
    expect(posts).toHaveLength(2);
  });

  it("keeps a short-lived token for half its lifetime at least", async () => {
    const clock = manualClock();
    const { fetch, posts } = scriptedBroker(() => tokenResponse(40));
    const writ = writWith(fetch, clock);
    await writ.token({ useCase: "crm.customers.read" });
    clock.advance(19_000);
    await writ.token({ useCase: "crm.customers.read" });
    expect(posts).toHaveLength(1);
    clock.advance(1_000);
    await writ.token({ useCase: "crm.customers.read" });
    expect(posts).toHaveLength(2);
  });

  it("caches nothing that failed, and `fresh` skips the cache", async () => {
    let answer = () => refusal(403, "access_denied", "condition time_windows: outside the allowed time window (UTC)");
    const { fetch, posts } = scriptedBroker(() => answer());
    const writ = writWith(fetch);
    await rejectionOf(writ.token({ useCase: "crm.customers.read" }), WritDenied);
    answer = () => tokenResponse();
    const token = await writ.token({ useCase: "crm.customers.read" });
    expect((await writ.token({ useCase: "crm.customers.read", fresh: true })).accessToken).not.toBe(token.accessToken);
    expect(posts).toHaveLength(3);
  });

  it("lets one caller abort its wait while another still gets the shared token", async () => {
    let release: (response: Response) => void = () => {};
    const { fetch, posts } = scriptedBroker(() => new Promise<Response>((resolve) => (release = resolve)));
    const writ = writWith(fetch);
    const impatient = new AbortController();
    const first = writ.token({ useCase: "crm.customers.read", signal: impatient.signal });
    const second = writ.token({ useCase: "crm.customers.read" });
    await vi.waitFor(() => expect(posts).toHaveLength(1));
    impatient.abort(new Error("not any more"));
    await expect(first).rejects.toThrow("not any more");
    release(tokenResponse(300, "shared"));
    expect((await second).accessToken).toBe("shared");
    expect(posts).toHaveLength(1);
  });
});

describe("discovery (RFC 8414)", () => {
  it("puts the well-known segment before the issuer's path", () => {
    expect(metadataUrl("https://writ.example.com")).toBe("https://writ.example.com/.well-known/oauth-authorization-server");
    expect(metadataUrl("https://example.com/writ")).toBe("https://example.com/.well-known/oauth-authorization-server/writ");
  });

  it("refuses metadata that names another issuer, saying which (§3.3)", async () => {
    const { fetch, posts } = scriptedBroker(() => tokenResponse(), { ...METADATA, issuer: `${ISSUER}/` });
    const thrown = await rejectionOf(writWith(fetch).token({ useCase: "crm.customers.read" }), WritDiscoveryFailed);
    expect(thrown.message).toContain(`calls itself "${ISSUER}/", not "${ISSUER}"`);
    expect(posts).toEqual([]);
  });

  it("names the issuer to check when there is no metadata", async () => {
    const fetch: FetchLike = async () => new Response("not found", { status: 404 });
    const thrown = await rejectionOf(writWith(fetch).token({ useCase: "crm.customers.read" }), WritDiscoveryFailed);
    expect(thrown.message).toContain(`is "${ISSUER}" the broker's issuer URL?`);
  });
});

describe("caller misuse throws TypeError at once", () => {
  const key = agentPrivateJwk("support-bot");
  it("in the constructor", () => {
    expect(() => new WritClient({ issuer: "writ.example.com", agentId: "a", key })).toThrow(TypeError);
    expect(() => new WritClient({ issuer: "http://writ.example.com", agentId: "a", key })).toThrow(/https/);
    expect(() => new WritClient({ issuer: `${ISSUER}?x=1`, agentId: "a", key })).toThrow(/query/);
    expect(() => new WritClient({ issuer: ISSUER, agentId: "", key })).toThrow(TypeError);
    const { d: _private, ...publicJwk } = key;
    expect(() => new WritClient({ issuer: ISSUER, agentId: "a", key: publicJwk })).toThrow(/public JWK/);
    expect(() => new WritClient({ issuer: ISSUER, agentId: "a", key: { ...key, kty: "RSA" } })).toThrow(/EC P-256 or Ed25519/);
    expect(() => new WritClient({ issuer: "http://127.0.0.1:8787", agentId: "a", key })).not.toThrow();
    expect(() => new WritClient({ issuer: "http://broker.internal:8787", agentId: "a", key, allowInsecureHttp: true })).not.toThrow();
  });

  it("a private JWK that is no key of its curve, at the first token()", async () => {
    const { fetch, posts } = scriptedBroker(() => tokenResponse());
    const writ = new WritClient({ issuer: ISSUER, agentId: "a", key: { ...key, d: "AAAA" }, fetch });
    await expect(writ.token({ useCase: "u" })).rejects.toThrow(/not a usable ES256 private key/);
    expect(posts).toEqual([]);
  });

  it("in token(), before any request", async () => {
    const { fetch, posts } = scriptedBroker(() => tokenResponse());
    const writ = writWith(fetch);
    // @ts-expect-error: no use case
    await expect(writ.token({})).rejects.toThrow(TypeError);
    // @ts-expect-error: context values are flat
    await expect(writ.token({ useCase: "u", context: { nested: { a: 1 } } })).rejects.toThrow(/context.nested/);
    await expect(writ.token({ useCase: "u", resource: "crm" })).rejects.toThrow(/absolute URL/);
    // @ts-expect-error: not a mode
    await expect(writ.token({ useCase: "u", approval: "maybe" })).rejects.toThrow(TypeError);
    expect(posts).toEqual([]);
  });
});
