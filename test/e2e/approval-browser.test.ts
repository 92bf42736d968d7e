/**
 * Human approval end to end, the way people and agents meet it: the real broker bundle in workerd, an agent
 * using openid-client's CIBA functions (OpenID CIBA §7 and §10.1, poll mode), the approval mail as the broker
 * captured it, and approvers clicking in headless Chromium at a phone's size, with a passkey from Chromium's
 * virtual authenticator where the use case asks for one. The token that comes out is checked by Writ's verifier,
 * as the downstream service would.
 *
 * Approval and enrolment links point at http://localhost:<port>, not 127.0.0.1: WebAuthn refuses IP addresses
 * as relying-party ids, so that is the origin passkeys are bound to.
 */
import * as client from "openid-client";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_VARS } from "../../scripts/dev-vars.ts";
import { type LocalWorker, startLocalWorker } from "../../scripts/local-broker.ts";
import { createVerifier, type WritGrant } from "../../verifier/index.ts";
import { type AgentId, agentSigningKey } from "../support/assertions.ts";
import type { SentMail } from "../support/ciba.ts";
import { CRM_API, CUSTOMERS_EXPORT } from "../support/demo-policy.ts";
import { CIBA_GRANT } from "../support/oauth.ts";
import { connectAgent, lastRequest, type OpenIdAgent } from "../support/openid-client.ts";
import { rejectionOf } from "../support/rejection.ts";
import { addVirtualAuthenticator, launchChromium, openPhone, saveScreenshot, type VirtualAuthenticator } from "./browser.ts";

const REFUND = "billing.invoices.refund";
const BILLING_API = "https://billing.example.com";
const DANA = "dana@example.com";
const ERIN = "erin@example.com";
const FRANK = "frank@example.com";
const ALICE = "alice@example.com";
/** The broker's CIBA polling interval (CIBA §7.3): openid-client waits this long before every poll. */
const INTERVAL_SECONDS = 5;

type Started = { agent: OpenIdAgent; started: client.BackchannelAuthenticationResponse; approvalId: string };

let broker: LocalWorker;
let browser: Browser;
/** Where approvers' links point: the broker, named by host name so that passkeys can be bound to it. */
let approvalOrigin: string;

beforeAll(async () => {
  browser = await launchChromium();
  broker = await startLocalWorker({
    keepRequestLogs: true,
    // The generated dev key signs (a developer's .dev.vars SIGNING_KEYS must not replace it).
    omitBindings: ["SIGNING_KEYS"],
    bindings: (url) => ({ ...DEV_VARS, ISSUER: url, APPROVAL_ORIGIN: url.replace("127.0.0.1", "localhost") }),
  });
  approvalOrigin = broker.url.replace("127.0.0.1", "localhost");
});

afterAll(async () => {
  await browser?.close();
  await broker?.dispose();
});

describe("a quorum of link-only approvals (billing.invoices.refund: 2 of dana, erin, frank; finance needs 1)", () => {
  const intent = "refund invoice INV-2291: the customer was charged twice for March";
  let request: Started;
  let mails: SentMail[];

  it("mails each approver a link of their own, and the agent only an auth_req_id", async () => {
    request = await startApproval("billing-agent", { scope: `openid ${REFUND}`, intent });

    expect(request.started).toMatchObject({ auth_req_id: expect.any(String), interval: INTERVAL_SECONDS });
    expect(request.started.expires_in).toBeLessThanOrEqual(900);
    mails = await outbox(request.approvalId);
    expect(mails.map((mail) => mail.to).sort()).toEqual([DANA, ERIN, FRANK]);
    expect(new Set(mails.map((mail) => mail.link)).size).toBe(3);
    for (const mail of mails) {
      expect(mail.link.startsWith(`${approvalOrigin}/approvals/${request.approvalId}?t=`)).toBe(true);
      expect(mail.link).not.toContain(request.started.auth_req_id);
      expect(mail.subject).toContain("billing");
      expect(mail.subject).toContain(REFUND);
      expect(mail.text).toContain(intent);
      expect(mail.text).toContain(mail.link);
    }
  });

  it("shows dana everything needed to judge, and opening the link decides nothing", async () => {
    const { page } = await openPhone(browser);

    const response = await page.goto(mailTo(mails, DANA).link);

    expect(response?.status()).toBe(200);
    expect(response?.headers()["cache-control"]).toBe("no-store");
    expect(await text(page, "#agent")).toContain("billing-agent");
    expect(await text(page, "#owner")).toContain("bob@example.com");
    expect(await text(page, "#use-case")).toBe(REFUND);
    expect(await text(page, "#use-case-description")).toBe("Issue refunds on invoices.");
    expect(await text(page, "#service")).toBe(BILLING_API);
    expect(await page.locator("#actions li").allInnerTexts()).toEqual(["read", "refund"]);
    expect(await text(page, "#limits")).toContain("max_refund_cents = 50000");
    expect(await text(page, "#limits")).toContain("max_calls = 10");
    expect(await text(page, "#intent")).toBe(intent);
    expect(await text(page, "#quorum")).toContain("Needs 2 approvals (0 so far)");
    expect(await text(page, "#approve-form button")).toBe("Approve");
    await saveScreenshot(page, "approval-page-quorum");
    // A mail scanner that opens the link must not approve anything (GET never changes state).
    await expectPending(request);
    await page.context().close();
  });

  it("records dana's approval, then erin's (finance) meets the quorum, and the agent's poll gets a verified token", async () => {
    const dana = await openPhone(browser);
    await dana.page.goto(mailTo(mails, DANA).link);
    expect(await submit(dana.page, "#approve-form button", request.approvalId)).toBe(200);
    expect(await text(dana.page, "h1")).toBe("Approval recorded");
    expect(await text(dana.page, "main")).toContain("still needs more approvals");
    await saveScreenshot(dana.page, "result-page-approval-recorded");
    await dana.context.close();

    const erin = await openPhone(browser);
    await erin.page.goto(mailTo(mails, ERIN).link);
    expect(await text(erin.page, "#quorum")).toContain("(1 so far)");
    expect(await text(erin.page, "#approvals")).toMatch(/dana@example\.com: approved at .* \(link\)/);
    await saveScreenshot(erin.page, "approval-page-quorum-second-approver");
    expect(await submit(erin.page, "#approve-form button", request.approvalId)).toBe(200);
    expect(await text(erin.page, "h1")).toBe("Approved");
    await saveScreenshot(erin.page, "result-page-approved");
    await erin.context.close();

    const tokens = await client.pollBackchannelAuthenticationGrant(request.agent.config, request.started);

    const grant = await verify(tokens.access_token, BILLING_API, REFUND);
    expect(grant).toMatchObject({ agent: "billing-agent", useCase: REFUND, audience: BILLING_API, intent });
    expect(grant.actions).toEqual(["read", "refund"]);
    expect(grant.limits).toEqual({ max_refund_cents: 50000, max_calls: 10 });
    expect(grant.approval?.id).toBe(request.approvalId);
    expect([...(grant.approval?.approved_by ?? [])].sort()).toEqual([DANA, ERIN]);
  });

  it("answers a used link with a clear 'already used' page (410), not a stack trace", async () => {
    const { page, context } = await openPhone(browser);

    const response = await page.goto(mailTo(mails, DANA).link);

    expect(response?.status()).toBe(410);
    expect(await text(page, "h1")).toBe("Link already used");
    expectNoStackTrace(await text(page, "body"));
    await saveScreenshot(page, "problem-page-link-used");
    // Frank never decided; his link now says the request is settled.
    const late = await page.goto(mailTo(mails, FRANK).link);
    expect(late?.status()).toBe(410);
    expect(await text(page, "h1")).toBe("Already decided");
    expectNoStackTrace(await text(page, "body"));
    await context.close();
  });
});

describe("a passkey step-up (crm.customers.export: dana approves; alice owns support-bot and is barred)", () => {
  const intent = "export the customers named on ticket SUP-7 for their data access request";
  let danaPage: Page;
  let passkeys: VirtualAuthenticator;
  let request: Started;
  let danaLink: string;

  beforeAll(async () => {
    // One page, one authenticator: dana enrols on it and later approves with the same passkey.
    danaPage = (await openPhone(browser)).page;
    passkeys = await addVirtualAuthenticator(danaPage);
  });

  it("enrols dana's passkey from a one-time link an admin issues", async () => {
    const issued = await fetch(`${broker.url}/admin/approvers/enrolment-links`, {
      method: "POST",
      headers: { authorization: `Bearer ${DEV_VARS.ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ email: DANA }),
    });
    expect(issued.status).toBe(201);
    const { url } = (await issued.json()) as { url: string };
    expect(url.startsWith(`${approvalOrigin}/enrol/`)).toBe(true);

    const response = await danaPage.goto(url);
    expect(response?.status()).toBe(200);
    expect(await text(danaPage, "#enrol-email")).toBe(DANA);
    await saveScreenshot(danaPage, "enrolment-page");
    await danaPage.click("button[data-enrol]");
    await danaPage.locator("[data-status]", { hasText: "Passkey added" }).waitFor();
    await saveScreenshot(danaPage, "enrolment-page-done");

    const [credential, ...more] = await passkeys.credentials();
    expect(more).toEqual([]);
    expect(credential).toMatchObject({ rpId: "localhost", isResidentCredential: true });
    // The link worked once.
    expect((await danaPage.goto(url))?.status()).toBe(410);
  });

  it("mails dana and not alice, the agent's owner; dana's page asks for her passkey", async () => {
    request = await startApproval("support-bot", {
      scope: `openid ${CUSTOMERS_EXPORT}`,
      intent,
      context: JSON.stringify({ ticket: "SUP-7" }),
    });

    const mails = await outbox(request.approvalId);
    expect(mails.map((mail) => mail.to)).toEqual([DANA]);
    expect(mails.some((mail) => mail.to === ALICE)).toBe(false);
    danaLink = mailTo(mails, DANA).link;
    await danaPage.goto(danaLink);
    expect(await text(danaPage, "#use-case")).toBe(CUSTOMERS_EXPORT);
    expect(await text(danaPage, "#context")).toContain("ticket = SUP-7");
    expect(await text(danaPage, "#intent")).toBe(intent);
    expect(await text(danaPage, "#approve-form button")).toBe("Approve with passkey");
    await saveScreenshot(danaPage, "approval-page-passkey");
  });

  it("refuses dana's link without her passkey, and the request stays pending", async () => {
    // Dana's link opened in another browser: an authenticator, but not the one holding her passkey.
    const elsewhere = await openPhone(browser);
    await addVirtualAuthenticator(elsewhere.page);
    await elsewhere.page.goto(danaLink);
    await elsewhere.page.click("#approve-form button");
    await elsewhere.page.locator("[data-status]", { hasText: "Nothing was recorded" }).waitFor();
    expect(new URL(elsewhere.page.url()).search).toContain("t=");
    await saveScreenshot(elsewhere.page, "approval-page-passkey-missing");
    await elsewhere.context.close();

    // The page's script is no gate: the same form posted without an assertion (no JavaScript at all) is refused.
    const scripted = await openPhone(browser, { javaScriptEnabled: false });
    await scripted.page.goto(danaLink);
    const status = await submit(scripted.page, "#approve-form button", request.approvalId);
    await saveScreenshot(scripted.page, "problem-page-passkey-required");
    // A passkey is one of the use case's methods, so the approver is told to use one (not that Access is unset).
    expect(status).toBe(403);
    expect(await text(scripted.page, "h1")).toBe("Stronger sign-in needed");
    expect(await text(scripted.page, "main")).toContain("Nothing was recorded");
    expectNoStackTrace(await text(scripted.page, "body"));
    await scripted.context.close();

    await expectPending(request);
  });

  it("approves with dana's passkey, and the agent's poll gets a verified token", async () => {
    await danaPage.goto(danaLink);
    expect(await submit(danaPage, "#approve-form button", request.approvalId)).toBe(200);
    expect(await text(danaPage, "h1")).toBe("Approved");
    await saveScreenshot(danaPage, "result-page-approved-passkey");
    const [credential] = await passkeys.credentials();
    expect(credential?.signCount).toBeGreaterThan(0);

    const tokens = await client.pollBackchannelAuthenticationGrant(request.agent.config, request.started);

    const grant = await verify(tokens.access_token, CRM_API, CUSTOMERS_EXPORT);
    expect(grant).toMatchObject({ agent: "support-bot", useCase: CUSTOMERS_EXPORT, intent });
    expect(grant.approval).toMatchObject({ id: request.approvalId, approved_by: [DANA] });
  });
});

describe("a deny", () => {
  it("ends the request at once: the agent's poll gets access_denied", async () => {
    const request = await startApproval("billing-agent", {
      scope: `openid ${REFUND}`,
      intent: "refund invoice INV-3307 in full, goodwill gesture after an outage",
    });
    const mails = await outbox(request.approvalId);
    const { page, context } = await openPhone(browser);
    await page.goto(mailTo(mails, FRANK).link);

    expect(await submit(page, "#deny-form button", request.approvalId)).toBe(200);
    expect(await text(page, "h1")).toBe("Denied");
    await saveScreenshot(page, "result-page-denied");
    // One deny settles it: the other approvers' links no longer offer a decision.
    const other = await page.goto(mailTo(mails, DANA).link);
    expect(other?.status()).toBe(410);
    await context.close();

    const error = await rejectionOf(
      client.pollBackchannelAuthenticationGrant(request.agent.config, request.started),
      client.ResponseBodyError,
    );
    expect(error).toMatchObject({ status: 403, error: "access_denied" });
  });
});

/** The agent's side of CIBA §7.1; the approval id (which names the approvers' links) comes from the broker's log. */
async function startApproval(agentId: AgentId, parameters: Record<string, string>): Promise<Started> {
  const agent = await connectAgent(broker.url, agentId, client.PrivateKeyJwt(await agentSigningKey(agentId)));
  const started = await client.initiateBackchannelAuthentication(agent.config, parameters);
  const logged = await broker.requestLog(lastRequest(agent).requestId);
  expect(logged).toMatchObject({ decision: "approval_requested", agent: agentId });
  return { agent, started, approvalId: String(logged.approval_id) };
}

/** One poll of the CIBA grant, without waiting: what the agent would hear right now. */
async function expectPending({ agent, started }: Started): Promise<void> {
  const error = await rejectionOf(
    client.genericGrantRequest(agent.config, CIBA_GRANT, { auth_req_id: started.auth_req_id }),
    client.ResponseBodyError,
  );
  expect(error).toMatchObject({ status: 400, error: "authorization_pending" });
}

/** The mail the broker sent for one request, as its dev outbox captured it. */
async function outbox(approvalId: string): Promise<SentMail[]> {
  const response = await fetch(`${broker.url}/dev/outbox.json?approval_id=${encodeURIComponent(approvalId)}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { mails: SentMail[] }).mails;
}

function mailTo(mails: readonly SentMail[], approver: string): SentMail {
  const mail = mails.find((m) => m.to === approver);
  if (!mail) throw new TypeError(`no mail to ${approver} among ${mails.map((m) => m.to).join(", ")}`);
  return mail;
}

/** Clicks a decision button and waits for the page the POST answered with; returns its HTTP status. */
async function submit(page: Page, button: string, approvalId: string): Promise<number> {
  const action = `${approvalOrigin}/approvals/${approvalId}`;
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" && r.url() === action),
    page.waitForURL(action),
    page.click(button),
  ]);
  return response.status();
}

/** The text as rendered, which is what the approver reads. */
async function text(page: Page, selector: string): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText, not a DOM node read.
  return (await page.locator(selector).first().innerText()).trim();
}

function expectNoStackTrace(body: string): void {
  expect(body).not.toMatch(/\bat .+:\d+:\d+|Error:|TypeError|undefined/);
}

/** What the downstream service does: Writ's verifier against the broker's published keys. */
function verify(token: string, audience: string, scope: string): Promise<WritGrant> {
  const verifier = createVerifier({ issuer: broker.url, audience, jwksUri: `${broker.url}/.well-known/jwks.json` });
  return verifier.verify(token, { scope });
}
