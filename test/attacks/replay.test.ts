/**
 * An attacker who captured one genuine assertion (from a log, a proxy, a crash dump) tries to use it again:
 * sequentially, across grant types, and in a burst of parallel requests racing the ledger. RFC 7523 §3 item 7
 * lets the server reject a reused jti; the contract requires it. Exactly one use may ever succeed.
 */
import { evictDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { assertionClaims, assertionFor, jtiOf, signWithAgentKey } from "../support/assertions.ts";
import { approvalIdOf, approvalState, letTimePass, pollForm, startApproval } from "../support/ciba.ts";
import { signWithAttackerKey } from "../support/forgeries.ts";
import { formPost } from "../support/http.ts";
import { type RequestLogLine, withRequestLog } from "../support/logs.ts";
import { CLIENT_ASSERTION_TYPE } from "../support/oauth.ts";
import {
  expectAgentStillServed,
  expectInvalidClient,
  expectInvalidSubjectToken,
  expectIssued,
  expectRefusal,
} from "../support/token-checks.ts";
import { clientCredentialsForm, ledgerJtis, postToken, TOKEN_ENDPOINT, tokenExchangeForm } from "../support/token-endpoint.ts";

const PARALLEL_REQUESTS = 10;

/** Fires all forms at once and returns each response's status and error with every request's log line. */
async function race(forms: URLSearchParams[]): Promise<{ outcomes: { status: number; error: unknown }[]; lines: RequestLogLine[] }> {
  const { result, lines } = await withRequestLog(() =>
    Promise.all(
      forms.map(async (form) => {
        const response = await exports.default.fetch(TOKEN_ENDPOINT, formPost(form));
        const body = await response.json<Record<string, unknown>>();
        expect(response.headers.get("cache-control")).toBe("no-store");
        return { status: response.status, error: body.error };
      }),
    ),
  );
  expect(lines).toHaveLength(forms.length);
  return { outcomes: result, lines };
}

const countBy = <T>(values: T[]): Map<T, number> =>
  values.reduce((counts, v) => counts.set(v, (counts.get(v) ?? 0) + 1), new Map<T, number>());

describe("sequential replay", () => {
  it("rejects a replayed client assertion after its first use succeeded", async () => {
    const assertion = await assertionFor("support-bot");
    expectIssued(await postToken(clientCredentialsForm(assertion)));
    const after = await ledgerJtis("support-bot");
    expect(after).toContain(jtiOf(assertion));

    expectInvalidClient(await postToken(clientCredentialsForm(assertion)), "replayed");
    expect(await ledgerJtis("support-bot")).toEqual(after);
    await expectAgentStillServed("support-bot");
  });

  it("rejects a replayed subject_token after its first use succeeded", async () => {
    const subjectToken = await assertionFor("billing-agent");
    expectIssued(await postToken(tokenExchangeForm(subjectToken)));
    const after = await ledgerJtis("billing-agent");

    expectInvalidSubjectToken(await postToken(tokenExchangeForm(subjectToken)), "replayed");
    expect(await ledgerJtis("billing-agent")).toEqual(after);
    await expectAgentStillServed("billing-agent");
  });

  it("rejects a replay even when the second request asks for something else", async () => {
    const assertion = await assertionFor("support-bot");
    expectIssued(await postToken(clientCredentialsForm(assertion)));
    const result = await postToken(clientCredentialsForm(assertion, { scope: "crm.customers.read", resource: "https://crm.example.com" }));
    expectInvalidClient(result, "replayed");
  });

  it("rejects an assertion used as client_assertion and then replayed as subject_token", async () => {
    const assertion = await assertionFor("support-bot");
    expectIssued(await postToken(clientCredentialsForm(assertion)));
    expectInvalidSubjectToken(await postToken(tokenExchangeForm(assertion)), "replayed");
  });

  it("rejects an assertion used as subject_token and then replayed as client_assertion", async () => {
    const assertion = await assertionFor("support-bot");
    expectIssued(await postToken(tokenExchangeForm(assertion)));
    expectInvalidClient(await postToken(clientCredentialsForm(assertion)), "replayed");
  });

  it("burns one JWT sent as both client_assertion and subject_token once, and rejects the pair's replay", async () => {
    const assertion = await assertionFor("support-bot");
    const form = tokenExchangeForm(assertion, { client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion });
    const before = await ledgerJtis("support-bot");
    expectIssued(await postToken(form));
    expect(await ledgerJtis("support-bot")).toEqual([...before, jtiOf(assertion)].sort());

    expectInvalidClient(await postToken(form), "replayed");
  });

  it("treats a re-signed assertion that reuses a jti as a replay (replay is keyed on jti, not on the token bytes)", async () => {
    const jti = crypto.randomUUID();
    expectIssued(await postToken(clientCredentialsForm(await signWithAgentKey("support-bot", assertionClaims("support-bot", { jti })))));
    const resigned = await signWithAgentKey(
      "support-bot",
      assertionClaims("support-bot", { jti, exp: Math.floor(Date.now() / 1000) + 90 }),
    );
    expectInvalidClient(await postToken(clientCredentialsForm(resigned)), "replayed");
  });

  it("stores a jti full of SQL metacharacters literally and still detects its replay", async () => {
    const jti = "x'); DELETE FROM used_assertions; --";
    const before = await ledgerJtis("support-bot");
    const assertion = await signWithAgentKey("support-bot", assertionClaims("support-bot", { jti }));
    expectIssued(await postToken(clientCredentialsForm(assertion)));
    expect(await ledgerJtis("support-bot")).toEqual([...before, jti].sort());
    expectInvalidClient(await postToken(clientCredentialsForm(assertion)), "replayed");
  });

  it("still rejects the replay after the agent's ledger was evicted from memory", async () => {
    const assertion = await assertionFor("support-bot");
    expectIssued(await postToken(clientCredentialsForm(assertion)));
    await evictDurableObject(env.AGENT_LEDGER.getByName("support-bot"));
    expectInvalidClient(await postToken(clientCredentialsForm(assertion)), "replayed");
  });

  it("refuses every replay with the same wire body as any other client-authentication failure", async () => {
    const assertion = await assertionFor("support-bot");
    expectIssued(await postToken(clientCredentialsForm(assertion)));
    const replay = await postToken(clientCredentialsForm(assertion));
    const forged = await postToken(clientCredentialsForm(await signWithAttackerKey("ES256", "support-bot", { kid: "support-bot-1" })));
    expect(replay.body).toEqual(forged.body);
    expect([replay.log.failure, forged.log.failure]).toEqual(["replayed", "bad_signature"]);
  });
});

describe("concurrent replay (racing the ledger)", () => {
  it(`issues exactly one token when ${PARALLEL_REQUESTS} identical client_credentials requests race`, async () => {
    const assertion = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    const { outcomes, lines } = await race(Array.from({ length: PARALLEL_REQUESTS }, () => clientCredentialsForm(assertion)));

    expect(countBy(outcomes.map((o) => `${o.status} ${String(o.error)}`))).toEqual(
      new Map([
        ["200 undefined", 1],
        ["401 invalid_client", PARALLEL_REQUESTS - 1],
      ]),
    );
    expect(countBy(lines.map((l) => `${l.decision}/${l.reason}/${l.failure}`))).toEqual(
      new Map([
        ["issued/undefined/undefined", 1],
        ["denied/client_assertion_invalid/replayed", PARALLEL_REQUESTS - 1],
      ]),
    );
    expect(await ledgerJtis("support-bot")).toEqual([...before, jtiOf(assertion)].sort());
  });

  it(`issues exactly one token when ${PARALLEL_REQUESTS} identical token exchanges race`, async () => {
    const subjectToken = await assertionFor("billing-agent");
    const { outcomes, lines } = await race(Array.from({ length: PARALLEL_REQUESTS }, () => tokenExchangeForm(subjectToken)));

    expect(outcomes.filter((o) => o.status === 200)).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 400 && o.error === "invalid_grant")).toHaveLength(PARALLEL_REQUESTS - 1);
    expect(lines.filter((l) => l.reason === "subject_token_invalid" && l.failure === "replayed")).toHaveLength(PARALLEL_REQUESTS - 1);
  });

  it("issues exactly one token when the same JWT races as client_assertion and as subject_token", async () => {
    const assertion = await assertionFor("support-bot");
    const forms = Array.from({ length: PARALLEL_REQUESTS }, (_, i) =>
      i % 2 === 0 ? clientCredentialsForm(assertion) : tokenExchangeForm(assertion),
    );
    const { outcomes, lines } = await race(forms);

    expect(outcomes.filter((o) => o.status === 200)).toHaveLength(1);
    expect(lines.filter((l) => l.decision === "issued")).toHaveLength(1);
    expect(lines.filter((l) => l.failure === "replayed")).toHaveLength(PARALLEL_REQUESTS - 1);
  });

  it("serves every request when parallel requests each carry a fresh assertion (no false replays)", async () => {
    const forms = await Promise.all(
      Array.from({ length: PARALLEL_REQUESTS }, async () => clientCredentialsForm(await assertionFor("support-bot"))),
    );
    const { outcomes } = await race(forms);
    expect(outcomes.map((o) => o.status)).toEqual(Array(PARALLEL_REQUESTS).fill(200));
  });
});

describe("proofs that are refused are not burnt", () => {
  it("does not let a forged assertion burn a genuine jti it copied (denial of service on the agent)", async () => {
    const jti = crypto.randomUUID();
    const forged = await signWithAttackerKey("ES256", "support-bot", { kid: "support-bot-1" }, assertionClaims("support-bot", { jti }));
    expectInvalidClient(await postToken(clientCredentialsForm(forged)), "bad_signature");
    expect(await ledgerJtis("support-bot")).not.toContain(jti);

    const genuine = await signWithAgentKey("support-bot", assertionClaims("support-bot", { jti }));
    expectIssued(await postToken(clientCredentialsForm(genuine)));
  });

  it("does not burn an assertion when the policy refuses the request, so the agent can retry with it", async () => {
    const assertion = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    const refused = await postToken(clientCredentialsForm(assertion, { scope: "billing.invoices.refund" }));
    expectRefusal(refused, { status: 400, error: "invalid_scope", reason: "use_case_not_allowed" });
    expect(await ledgerJtis("support-bot")).toEqual(before);
    expectIssued(await postToken(clientCredentialsForm(assertion)));
  });
});

describe("replayed CIBA polls", () => {
  it("refuses a replayed poll before it touches the request, so the real agent is not pushed into slow_down", async () => {
    const started = await startApproval("billing-agent", { scope: "billing.invoices.refund", intent: "replayed poll" });
    const { auth_req_id } = await started.json<{ auth_req_id: string }>();
    const approvalId = approvalIdOf(auth_req_id);
    const form = await pollForm("billing-agent", auth_req_id);
    expectRefusal(await postToken(form), { status: 400, error: "authorization_pending", reason: "authorization_pending" });
    const afterRealPoll = await approvalState(approvalId);
    const ledger = await ledgerJtis("billing-agent");

    // The attacker captured the poll and sends it again at once: refused as a replay, and nothing moves.
    expectInvalidClient(await postToken(form), "replayed");
    expect(await approvalState(approvalId)).toEqual(afterRealPoll);
    expect(afterRealPoll).toMatchObject({ status: "pending", interval_s: 5 });
    expect(await ledgerJtis("billing-agent")).toEqual(ledger);

    // CIBA §11: the real agent polls again one interval (5 s) after its own poll, and is still on time.
    await letTimePass(approvalId, { seconds: 5 });
    expectRefusal(await postToken(await pollForm("billing-agent", auth_req_id)), {
      status: 400,
      error: "authorization_pending",
      reason: "authorization_pending",
      description: "the approvers have not decided yet",
    });
  });
});
