// Online mode against an /introspect double: every way the endpoint can fail to answer must refuse the token
// (fail closed), as ERR_WRIT_INTROSPECTION_UNAVAILABLE, never let it through and never blame the token.
import { decodeJwt } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { createVerifier, type IntrospectionFetch, type Verifier, WritVerifyError } from "../../verifier/index.ts";
import { jwksOf, signToken, type TestKey, testKey } from "../support/access-tokens.ts";
import { ISSUER } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { rejectionOf } from "../support/rejection.ts";

let key: TestKey;

beforeAll(async () => {
  key = await testKey("writ-1");
});

/** An /introspect double: answers with `answer(token)` (a Response, or an Error to throw) and counts calls. */
function endpoint(answer: (token: string, init: RequestInit) => Response | Error | Promise<Response>) {
  const calls: string[] = [];
  const fetch: IntrospectionFetch = async (url, init) => {
    calls.push(url);
    const result = await answer(new URLSearchParams(String(init.body)).get("token") ?? "", init);
    if (result instanceof Error) throw result;
    return result;
  };
  return { fetch, calls };
}

/** What the broker answers for a live token: `active` and the token's own claims. */
const activeAnswer = (token: string) => Response.json({ active: true, token_type: "Bearer", ...decodeJwt(token) });

function onlineVerifier(fetch: IntrospectionFetch, timeoutMs?: number): Verifier {
  return createVerifier({
    issuer: ISSUER,
    audience: CRM_API,
    jwks: jwksOf(key),
    introspection: { credential: "crm-secret-for-tests", fetch, ...(timeoutMs === undefined ? {} : { timeoutMs }) },
  });
}

function refusal(verifier: Verifier, token: string): Promise<WritVerifyError> {
  return rejectionOf(verifier.verify(token, { scope: CUSTOMERS_READ }), WritVerifyError);
}

describe("online mode reads RFC 7662 answers", () => {
  it("accepts a token the endpoint calls active", async () => {
    const double = endpoint(activeAnswer);
    await expect(onlineVerifier(double.fetch).verify(await signToken(key), { scope: CUSTOMERS_READ })).resolves.toMatchObject({
      agent: "support-bot",
    });
    expect(double.calls).toEqual([`${ISSUER}/introspect`]);
  });

  it("accepts a bare { active: true } (RFC 7662 §2.2 requires nothing else)", async () => {
    const double = endpoint(() => Response.json({ active: true }));
    await expect(onlineVerifier(double.fetch).verify(await signToken(key))).resolves.toMatchObject({ agent: "support-bot" });
  });

  it("refuses a token the endpoint calls inactive with ERR_WRIT_TOKEN_INACTIVE, and caches that answer too", async () => {
    const double = endpoint(() => Response.json({ active: false }));
    const verifier = onlineVerifier(double.fetch);
    const token = await signToken(key);
    expect((await refusal(verifier, token)).code).toBe("ERR_WRIT_TOKEN_INACTIVE");
    expect((await refusal(verifier, token)).code).toBe("ERR_WRIT_TOKEN_INACTIVE");
    expect(double.calls).toHaveLength(1);
  });

  it("never puts the token into a refusal's message", async () => {
    const token = await signToken(key);
    for (const answer of [Response.json({ active: false }), new Response("down", { status: 500 })]) {
      const error = await refusal(onlineVerifier(endpoint(() => answer.clone()).fetch), token);
      expect(error.message).not.toContain(token.split(".")[2]);
    }
  });
});

describe("online mode fails closed", () => {
  it.each<[string, (token: string) => Response | Error]>([
    ["the request fails", () => new TypeError("network connection lost")],
    ["the endpoint answers 500", () => new Response("internal error", { status: 500 })],
    ["the endpoint answers 503", () => new Response("unavailable", { status: 503 })],
    ["the endpoint answers 400", () => Response.json({ error: "invalid_request" }, { status: 400 })],
    ["the endpoint redirects", () => new Response(null, { status: 302, headers: { Location: "https://evil.example.com/introspect" } })],
    ["the answer is not JSON", () => new Response("<html>active</html>", { status: 200 })],
    ["the answer has no active member", () => Response.json({ sub: "support-bot" })],
    ["active is the string true", () => Response.json({ active: "true" })],
    ["the answer is a JSON array", () => Response.json([{ active: true }])],
    ["the answer is about another jti", (token) => Response.json({ ...decodeJwt(token), active: true, jti: crypto.randomUUID() })],
    [
      "the answer is about a token for another service",
      (token) => Response.json({ ...decodeJwt(token), active: true, aud: "https://billing.example.com" }),
    ],
  ])("refuses with ERR_WRIT_INTROSPECTION_UNAVAILABLE when %s", async (_label, answer) => {
    const error = await refusal(onlineVerifier(endpoint(answer).fetch), await signToken(key));
    expect(error.code).toBe("ERR_WRIT_INTROSPECTION_UNAVAILABLE");
  });

  it("refuses with ERR_WRIT_INTROSPECTION_UNAVAILABLE when the endpoint does not answer within timeoutMs", async () => {
    const hanging = endpoint(
      (_token, init) =>
        new Promise<Response>((_resolve, reject) =>
          init.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true }),
        ),
    );
    const error = await refusal(onlineVerifier(hanging.fetch, 20), await signToken(key));
    expect(error.code).toBe("ERR_WRIT_INTROSPECTION_UNAVAILABLE");
  });

  it("does not follow redirects: the service's credential must not travel to another URL", async () => {
    let redirect: RequestInit["redirect"];
    const double = endpoint((token, init) => {
      redirect = init.redirect;
      return activeAnswer(token);
    });
    await onlineVerifier(double.fetch).verify(await signToken(key));
    expect(redirect).toBe("manual");
  });

  it("caches no failure: the next verification asks again and passes once the endpoint is back", async () => {
    let down = true;
    const double = endpoint((token) => (down ? new Response("unavailable", { status: 503 }) : activeAnswer(token)));
    const verifier = onlineVerifier(double.fetch);
    const token = await signToken(key);
    expect((await refusal(verifier, token)).code).toBe("ERR_WRIT_INTROSPECTION_UNAVAILABLE");
    down = false;
    await expect(verifier.verify(token, { scope: CUSTOMERS_READ })).resolves.toMatchObject({ agent: "support-bot" });
    expect(double.calls).toHaveLength(2);
  });

  it("lets every concurrent verification of one token share a failure, then asks afresh", async () => {
    let answers = 0;
    const double = endpoint((token) => (answers++ === 0 ? new Response("unavailable", { status: 503 }) : activeAnswer(token)));
    const verifier = onlineVerifier(double.fetch);
    const token = await signToken(key);
    const outcomes = await Promise.allSettled([verifier.verify(token), verifier.verify(token), verifier.verify(token)]);
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected", "rejected"]);
    await expect(verifier.verify(token)).resolves.toMatchObject({ agent: "support-bot" });
    expect(double.calls).toHaveLength(2);
  });
});
