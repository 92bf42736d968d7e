/**
 * POST /keys/report from the attacker's side. A report quarantines an agent, so a forged one must do nothing; and
 * every report gets the one answer a genuine report gets, byte for byte, so the endpoint cannot be used to learn
 * which agents and keys are registered. The failed check shows only in the log line. The same key signs reports
 * and client assertions, so neither may pass as the other (RFC 8725 §3.11: explicit typing, distinct audiences).
 */
import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import type { KeyReportFailure } from "../../core/identity/key-report.ts";
import { KEY_REPORT_TYP } from "../../schemas/key-report.ts";
import {
  type AgentId,
  agentPublicJwk,
  assertionClaims,
  assertionFor,
  ISSUER,
  nowSeconds,
  signWithAgentKey,
} from "../support/assertions.ts";
import { probe } from "../support/audit.ts";
import { sentMails, startApproval } from "../support/ciba.ts";
import { signWithAttackerKey } from "../support/forgeries.ts";
import { handmadeJwt } from "../support/jws.ts";
import { type RequestLogLine, withRequestLog } from "../support/logs.ts";
import { ADMIN_BEARER, accessTokenFor, brokerGet, brokerPostForm, SERVICE_BEARER } from "../support/requests.ts";
import { expectAgentStillServed, GENERIC_CLIENT_FAILURE } from "../support/token-checks.ts";
import { clientCredentialsForm, ledgerJtis, postToken } from "../support/token-endpoint.ts";

const REPORT_URL = `${ISSUER}/keys/report`;
const REPORT_HEADER = { typ: KEY_REPORT_TYP };

/** The claims of a well-formed report about `agent`; `undefined` removes a claim. */
function reportClaims(agent: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return assertionClaims(agent, { iss: undefined, aud: REPORT_URL, ...overrides });
}

type ForgedReport = {
  /** Completes "changes nothing for …". */
  name: string;
  /** The agent the report names (whose state must stay as it was). */
  agent: string;
  failure: KeyReportFailure;
  make: () => Promise<string>;
};

const FORGED_REPORTS: ForgedReport[] = [
  // Without the key: the forgeries anyone can send.
  {
    name: "a report signed by an attacker's key under the agent's kid",
    agent: "support-bot",
    failure: "bad_signature",
    make: () => signWithAttackerKey("ES256", "support-bot", { ...REPORT_HEADER, kid: "support-bot-1" }, reportClaims("support-bot")),
  },
  {
    name: "a report under a kid the agent does not have (guessing registered keys)",
    agent: "support-bot",
    failure: "unknown_key",
    make: () => signWithAttackerKey("ES256", "support-bot", { ...REPORT_HEADER, kid: "support-bot-2" }, reportClaims("support-bot")),
  },
  {
    name: "a report for an agent the policy does not know (guessing agent ids)",
    agent: "ghost-agent",
    failure: "unknown_agent",
    make: () => signWithAttackerKey("ES256", "ghost-agent", { ...REPORT_HEADER, kid: "ghost-agent-1" }, reportClaims("ghost-agent")),
  },
  {
    name: "an unsigned report (alg none)",
    agent: "support-bot",
    failure: "algorithm_not_allowed",
    make: async () => handmadeJwt({ alg: "none", kid: "support-bot-1", ...REPORT_HEADER }, reportClaims("support-bot")),
  },
  {
    name: "an HS256 report keyed with the agent's public JWK (algorithm confusion)",
    agent: "support-bot",
    failure: "algorithm_not_allowed",
    make: async () => {
      const header = { alg: "HS256", kid: "support-bot-1", ...REPORT_HEADER };
      const secret = new TextEncoder().encode(JSON.stringify(agentPublicJwk("support-bot")));
      return new SignJWT(reportClaims("support-bot")).setProtectedHeader(header).sign(secret);
    },
  },
  {
    name: "a report naming an Ed25519 key but signed as ES256",
    agent: "billing-agent",
    failure: "key_type_mismatch",
    make: () => signWithAttackerKey("ES256", "billing-agent", { ...REPORT_HEADER, kid: "billing-agent-1" }, reportClaims("billing-agent")),
  },
  { name: "text that is not a JWT", agent: "support-bot", failure: "malformed", make: async () => "not-a-report" },
  // With one agent's genuine key, against another agent: a key reports only its own agent.
  {
    name: "a report naming another agent, signed with a genuine key of a different agent",
    agent: "billing-agent",
    failure: "unknown_key",
    make: () => signWithAgentKey("support-bot", reportClaims("billing-agent"), REPORT_HEADER),
  },
  // Genuine signatures over claims that must not pass: stale, long-lived, not a report, or not addressed here.
  {
    name: "an expired report",
    agent: "support-bot",
    failure: "expired",
    make: () =>
      signWithAgentKey("support-bot", reportClaims("support-bot", { iat: nowSeconds() - 600, exp: nowSeconds() - 300 }), REPORT_HEADER),
  },
  {
    name: "a report good for an hour (more than the five-minute limit)",
    agent: "support-bot",
    failure: "lifetime_too_long",
    make: () => signWithAgentKey("support-bot", reportClaims("support-bot", { exp: nowSeconds() + 3600 }), REPORT_HEADER),
  },
  {
    name: "a report issued ten minutes in the future",
    agent: "support-bot",
    failure: "issued_in_future",
    make: () =>
      signWithAgentKey("support-bot", reportClaims("support-bot", { iat: nowSeconds() + 600, exp: nowSeconds() + 700 }), REPORT_HEADER),
  },
  {
    name: "a report without iat",
    agent: "support-bot",
    failure: "missing_claim",
    make: () => signWithAgentKey("support-bot", reportClaims("support-bot", { iat: undefined }), REPORT_HEADER),
  },
  {
    name: "a report without jti (it could not be told from its replay)",
    agent: "support-bot",
    failure: "missing_claim",
    make: () => signWithAgentKey("support-bot", reportClaims("support-bot", { jti: undefined }), REPORT_HEADER),
  },
  {
    name: "a report without a kid",
    agent: "support-bot",
    failure: "unknown_key",
    make: () => signWithAgentKey("support-bot", reportClaims("support-bot"), { ...REPORT_HEADER, kid: undefined }),
  },
  {
    name: "a report typed as a plain JWT (the client assertion's typ)",
    agent: "support-bot",
    failure: "wrong_type",
    make: () => signWithAgentKey("support-bot", reportClaims("support-bot"), { typ: "JWT" }),
  },
  {
    name: "a genuine client assertion sent as a report",
    agent: "support-bot",
    failure: "wrong_type",
    make: () => assertionFor("support-bot"),
  },
  {
    name: "a report addressed to the issuer (the client assertion's audience)",
    agent: "support-bot",
    failure: "wrong_audience",
    make: () => signWithAgentKey("support-bot", reportClaims("support-bot", { aud: ISSUER }), REPORT_HEADER),
  },
  {
    name: "a report whose audience array adds a foreign audience",
    agent: "support-bot",
    failure: "wrong_audience",
    make: () =>
      signWithAgentKey("support-bot", reportClaims("support-bot", { aud: [REPORT_URL, "https://evil.example.com"] }), REPORT_HEADER),
  },
];

type Answer = { status: number; headers: [string, string][]; body: string; log: RequestLogLine };

/** POST /keys/report with the request's one log line; `cf-ray` sets the request id (to find its mail, if any). */
async function postReport(report: string, requestId = `${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}-ATK`): Promise<Answer> {
  const { result, lines } = await withRequestLog(async () => {
    const res = await brokerPostForm("/keys/report", { report }, { "cf-ray": requestId });
    return { status: res.status, headers: [...res.headers], body: await res.text() };
  });
  expect(lines).toHaveLength(1);
  return { ...result, log: lines[0] as RequestLogLine };
}

/** The one answer every report gets (RFC 9110 §15.3.3: accepted, nothing promised). */
function expectReceived(answer: Answer): void {
  expect({ status: answer.status, body: answer.body, headers: answer.headers }).toEqual({
    status: 202,
    body: '{"status":"received"}',
    headers: [
      ["cache-control", "no-store"],
      ["content-type", "application/json"],
    ],
  });
}

async function openApprovals(agent: AgentId): Promise<number> {
  const res = await brokerGet(`/admin/agents/${agent}`, {}, ADMIN_BEARER);
  return (await res.json<{ open_approvals: number }>()).open_approvals;
}

async function active(token: string): Promise<boolean> {
  return (await (await brokerPostForm("/introspect", { token }, SERVICE_BEARER)).json<{ active: boolean }>()).active;
}

describe("forged leaked-key reports", () => {
  it.each(FORGED_REPORTS)("changes nothing for $name, and answers exactly as for a genuine report", async ({ agent, failure, make }) => {
    const report = await make();
    const before = agent === "ghost-agent" ? [] : await ledgerJtis(agent);
    const requestId = `${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}-ATK`;
    const answer = await postReport(report, requestId);

    expectReceived(answer);
    expect(answer.log).toMatchObject({ status: 202, reason: "key_report_unverified", failure });
    for (const part of report.split(".")) if (part.length >= 16) expect(JSON.stringify(answer.log)).not.toContain(part);
    expect(await sentMails(`key-report:${requestId}`)).toEqual([]);
    if (agent === "ghost-agent") return;
    // Nothing burnt in the agent's ledger, and the agent is still served.
    expect(await ledgerJtis(agent)).toEqual(before);
    await expectAgentStillServed(agent as AgentId);
  });

  it("leaves every agent's live tokens active, its pending approval open, and creates no ledger for an unknown agent", async () => {
    const tokens = [await accessTokenFor("support-bot"), await accessTokenFor("billing-agent")];
    expect((await startApproval("billing-agent", { scope: "billing.invoices.refund", intent: "forged report test" })).status).toBe(200);
    const approvalsBefore = await openApprovals("billing-agent");
    const ledgers = (await listDurableObjectIds(env.AGENT_LEDGER)).map((id) => id.toString());

    for (const forged of FORGED_REPORTS) expectReceived(await postReport(await forged.make()));

    for (const token of tokens) expect(await active(token)).toBe(true);
    expect(await openApprovals("billing-agent")).toBe(approvalsBefore);
    const ghost = env.AGENT_LEDGER.idFromName("ghost-agent").toString();
    const after = (await listDurableObjectIds(env.AGENT_LEDGER)).map((id) => id.toString());
    expect(after).not.toContain(ghost);
    expect(after.sort()).toEqual(ledgers.sort());
  });

  it("writes no audit record for a forged report", async () => {
    const p = probe("forged-key-reports");
    for (const forged of FORGED_REPORTS) expect((await p.post("/keys/report", { report: await forged.make() })).status).toBe(202);
    // A request that is recorded, sent after them: once its record is in, theirs would be too.
    expect((await p.get("/admin/agents/support-bot", ADMIN_BEARER)).status).toBe(200);
    const records = await p.records(1);
    expect(records.map((r) => r.type)).toEqual(["admin_action"]);
  });
});

describe("the answer says nothing about registered keys", () => {
  afterAll(async () => {
    expect((await brokerPostForm("/admin/agents/report-bot/enable", null, ADMIN_BEARER)).status).toBe(200);
  });

  it("gives a genuine report, a forged one and a replayed one the same status, headers and body, byte for byte", async () => {
    const genuine = await signWithAgentKey("report-bot", reportClaims("report-bot"), REPORT_HEADER);
    const answers = [await postReport(genuine), await postReport(genuine)];
    for (const forged of FORGED_REPORTS) answers.push(await postReport(await forged.make()));
    const distinct = new Set(answers.map(({ status, headers, body }) => JSON.stringify({ status, headers, body })));
    expect(distinct.size).toBe(1);
    expectReceived(answers[0] as Answer);
    expect(answers.map((a) => a.log.reason)).toEqual([
      undefined,
      "key_report_replayed",
      ...FORGED_REPORTS.map(() => "key_report_unverified"),
    ]);
  });
});

describe("a report and a client assertion never pass as each other", () => {
  it("refuses a genuine report presented at /token as a client assertion, with the generic invalid_client, burning nothing", async () => {
    const report = await signWithAgentKey("support-bot", reportClaims("support-bot"), REPORT_HEADER);
    const before = await ledgerJtis("support-bot");
    const result = await postToken(clientCredentialsForm(report));
    // Which check refuses it (no iss, the report's audience, its typ) is the verifier's business; the wire is generic.
    expect({ status: result.status, body: result.body }).toEqual({
      status: 401,
      body: { error: "invalid_client", error_description: GENERIC_CLIENT_FAILURE },
    });
    expect(result.log).toMatchObject({ decision: "denied", reason: "client_assertion_invalid" });
    expect(await ledgerJtis("support-bot")).toEqual(before);
    await expectAgentStillServed("support-bot");
  });
});
