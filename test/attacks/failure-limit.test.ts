/**
 * Online guessing and floods from one network: an attacker tries admin tokens, or throws forged assertions at
 * /token, as fast as the broker answers. Each unauthenticated failure counts against the client's network
 * (worker/middleware/failure-limit.ts); the one over the limit, and every request from that network after it, is
 * refused with 429 and Retry-After before any work, whatever it carries. Other networks are not affected.
 */
import { describe, expect, it } from "vitest";
import { assertionFor, jtiOf } from "../support/assertions.ts";
import { formPost } from "../support/http.ts";
import { withRequestLog } from "../support/logs.ts";
import { countsByReason, fetchFrom, freshNetworkAddress, inOneLimiterWindow, networkOf, waitForNoise } from "../support/noise.ts";
import { ADMIN_BEARER } from "../support/requests.ts";
import { clientCredentialsForm, ledgerJtis } from "../support/token-endpoint.ts";

/** wrangler.toml `[[ratelimits]]`: ADMIN_AUTH_LIMITER and FAILURE_LIMITER allow this many failures per period. */
const ADMIN_FAILURES_ALLOWED = 10;
const FAILURES_ALLOWED = 100;
const PERIOD_SECONDS = 60;

/** The one answer to a limited network (RFC 6585 §4): when to come back, and nothing about what failed. */
const LIMITED = {
  status: 429,
  body: { error: "rate_limited", error_description: "too many failed requests from your network: retry later" },
  cacheControl: "no-store",
  challenge: null,
};

type Answer = { status: number; body: unknown; cacheControl: string | null; challenge: string | null; retryAfter: string | null };

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  return {
    status: response.status,
    body: text === "" ? null : (JSON.parse(text) as unknown),
    cacheControl: response.headers.get("cache-control"),
    challenge: response.headers.get("www-authenticate"),
    retryAfter: response.headers.get("retry-after"),
  };
}

function expectLimited(answer: Answer): void {
  expect(answer).toEqual({ ...LIMITED, retryAfter: expect.stringMatching(/^(59|60)$/) });
}

const adminGuess = (ip: string, guess: string) => fetchFrom(ip, "/admin/audit", { headers: { authorization: `Bearer ${guess}` } });

describe("admin token guessing", () => {
  it("refuses the 11th wrong admin token from one network with 429 and Retry-After, instead of checking it", async () => {
    const { guesses, over } = await inOneLimiterWindow(PERIOD_SECONDS, async (ip) => {
      const guesses: number[] = [];
      for (let i = 0; i < ADMIN_FAILURES_ALLOWED; i++) guesses.push((await adminGuess(ip, `guess-${i}`)).status);
      return { guesses, over: await answerOf(await adminGuess(ip, "guess-last")) };
    });

    expect(guesses).toEqual(Array(ADMIN_FAILURES_ALLOWED).fill(401));
    expect(over).toEqual({ ...LIMITED, retryAfter: "60" });
  });

  it("refuses even the right admin token from a network that has been guessing, before looking at it", async () => {
    // The safe choice against online guessing: were the right token let through, the one guess that works would show.
    const { right, logLine } = await inOneLimiterWindow(PERIOD_SECONDS, async (ip) => {
      for (let i = 0; i <= ADMIN_FAILURES_ALLOWED; i++) await adminGuess(ip, `guess-${i}`);
      const { result, lines } = await withRequestLog(async () => answerOf(await fetchFrom(ip, "/admin/audit", { headers: ADMIN_BEARER })));
      return { right: result, logLine: lines[0] };
    });

    expectLimited(right);
    // Refused before adminAuth ran: no admin signed in, no audit event named, nothing read.
    expect(logLine).toMatchObject({ status: 429, decision: "denied", reason: "too_many_failures" });
    expect(logLine).not.toHaveProperty("admin");
  });

  it("leaves other networks alone: their wrong tokens get the usual 401, their right token works", async () => {
    await inOneLimiterWindow(PERIOD_SECONDS, async (ip) => {
      for (let i = 0; i <= ADMIN_FAILURES_ALLOWED; i++) await adminGuess(ip, `guess-${i}`);
    });
    const elsewhere = freshNetworkAddress();

    expect(await answerOf(await adminGuess(elsewhere, "guess-0"))).toEqual({
      status: 401,
      body: { error: "invalid_token", error_description: "admin bearer token rejected" },
      cacheControl: "no-store",
      challenge: 'Bearer realm="writ-admin", error="invalid_token"',
      retryAfter: null,
    });
    expect((await fetchFrom(elsewhere, "/admin/audit", { headers: ADMIN_BEARER })).status).toBe(200);
  });
});

describe("floods of forged assertions", () => {
  it("answers 100 forgeries from one network with invalid_client, then refuses that network before reading its requests", async () => {
    const forged = `${(await assertionFor("support-bot")).slice(0, -4)}AAAA`;
    const genuine = await assertionFor("support-bot");
    const spent = await ledgerJtis("support-bot");

    const { ip, forgeries, over, honest } = await inOneLimiterWindow(PERIOD_SECONDS, async (ip) => {
      const forgeries: Answer[] = [];
      for (let i = 0; i < FAILURES_ALLOWED; i++)
        forgeries.push(await answerOf(await fetchFrom(ip, "/token", formPost(clientCredentialsForm(forged)))));
      const over = await answerOf(await fetchFrom(ip, "/token", formPost(clientCredentialsForm(forged))));
      // A genuine assertion from the same network: refused before its signature is checked or its jti burnt.
      const honest = await answerOf(await fetchFrom(ip, "/token", formPost(clientCredentialsForm(genuine))));
      return { ip, forgeries, over, honest };
    });

    expect(new Set(forgeries.map((a) => JSON.stringify(a)))).toEqual(
      new Set([
        JSON.stringify({
          status: 401,
          body: { error: "invalid_client", error_description: "client authentication failed" },
          cacheControl: "no-store",
          challenge: null,
          retryAfter: null,
        }),
      ]),
    );
    expect(over).toEqual({ ...LIMITED, retryAfter: "60" });
    expectLimited(honest);
    expect(await ledgerJtis("support-bot")).toEqual(spent);
    expect(spent).not.toContain(jtiOf(genuine));
    // Counted, not recorded: the forgeries by the check that failed, the two limited requests as such.
    const rows = await waitForNoise(FAILURES_ALLOWED + 2, (row) => row.network === networkOf(ip));
    expect(countsByReason(rows)).toEqual({ "client_assertion_invalid:bad_signature": FAILURES_ALLOWED, too_many_failures: 2 });
  });

  it("serves the same genuine assertion from another network", async () => {
    const genuine = await assertionFor("support-bot");
    const response = await fetchFrom(freshNetworkAddress(), "/token", formPost(clientCredentialsForm(genuine)));
    expect(response.status).toBe(200);
  });
});
