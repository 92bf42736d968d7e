import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestApproval, requestToken, WritTokenError } from "../../client/index.ts";
import { DEV_VARS } from "../../scripts/dev-vars.ts";
import { type Broker, startBroker } from "../../scripts/local-broker.ts";
import { type AgentId, agentPrivateJwk } from "../support/assertions.ts";
import { launchChromium, openPhone, saveScreenshot } from "./browser.ts";

const DESKTOP = { width: 1280, height: 900 } as const;
const XSS_INTENT = `<script>alert("admin")</script><img src=x onerror=alert(1)> look up ticket SUP-12`;
const PENDING_INTENT = "refund invoice INV-5120: charged twice for April";

let broker: Broker;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** What Chromium complained about: dialogs opened (script ran), CSP violations, page errors. */
const problems: string[] = [];

beforeAll(async () => {
  [broker, browser] = await Promise.all([startBroker(), launchChromium()]);
  context = await browser.newContext({ viewport: DESKTOP });
  page = await context.newPage();
  page.on("dialog", (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // Chromium logs every 401 page as a failed load; only a blocked script or style is a problem here.
    if (/Content Security Policy|Refused to/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
});

afterAll(async () => {
  await browser?.close();
  await broker?.dispose();
});

function agent(agentId: AgentId) {
  return { issuer: broker.url, agentId, privateJwk: agentPrivateJwk(agentId) };
}

type Layout = { width: number; pageWidth: number; cells: number; tables: number; unreachable: string[] };

const OPEN_EVERY_DETAILS = `document.querySelectorAll("details").forEach((d) => { d.open = true; })`;

/**
 * Run in the page (a string: the tests compile without the DOM's types). Every cell, budget, chart and form of the
 * page must be on screen across, or inside an ancestor that scrolls sideways by itself and can bring it there;
 * the page itself must not be wider than the screen.
 */
const LAYOUT_PROBE = `(() => {
  const width = document.documentElement.clientWidth;
  const reachable = (el) => {
    const box = el.getBoundingClientRect();
    if (box.left >= -0.5 && box.right <= width + 0.5) return true;
    for (let up = el.parentElement; up; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (!/(auto|scroll)/.test(style.overflowX) || up.scrollWidth <= up.clientWidth) continue;
      const frame = up.getBoundingClientRect();
      const fits = frame.left >= -0.5 && frame.right <= width + 0.5;
      const inside = box.left >= frame.left - up.scrollLeft - 0.5 && box.right <= frame.left - up.scrollLeft + up.scrollWidth + 0.5;
      return fits && inside;
    }
    return false;
  };
  const cells = [...document.querySelectorAll("main td, main li[data-budget], main svg, main form")];
  return {
    width,
    pageWidth: document.documentElement.scrollWidth,
    cells: cells.length,
    tables: document.querySelectorAll("main table").length,
    unreachable: cells.filter((el) => !reachable(el)).map((el) => el.tagName + " " + (el.getAttribute("data-label") ?? "") + " " + el.textContent.slice(0, 40)),
  };
})()`;

/** The text as rendered, which is what the admin reads. */
async function text(selector: string): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText, not a DOM node read.
  return (await page.locator(selector).first().innerText()).trim();
}

describe("the admin view in Chromium", () => {
  it("asks a browser without a session to sign in, and shows nothing else", async () => {
    const response = await page.goto(`${broker.url}/admin`);

    expect(response?.status()).toBe(401);
    expect(await text("h1")).toBe("Sign in");
    expect(await page.locator("#admin-token").getAttribute("type")).toBe("password");
    expect(await page.content()).not.toContain("support-bot");
    await saveScreenshot(page, "admin-sign-in");
  });

  it("refuses a wrong admin token and sets no cookie", async () => {
    await page.fill("#admin-token", "not-the-token");
    await Promise.all([page.waitForURL(`${broker.url}/admin/session`), page.click("#sign-in-form button")]);

    expect(await text("#sign-in-message")).toBe("That admin token was not accepted.");
    expect(await context.cookies()).toEqual([]);
  });

  it("signs in with the dev admin token: an HttpOnly, SameSite=Strict session cookie for /admin only", async () => {
    await page.goto(`${broker.url}/admin`);
    await page.fill("#admin-token", DEV_VARS.ADMIN_TOKEN);
    await Promise.all([page.waitForURL(`${broker.url}/admin`), page.click("#sign-in-form button")]);

    expect(await text("h1")).toBe("Broker overview");
    expect(await text("#signed-in")).toContain("Signed in as the admin token (browser session)");
    const [cookie, ...more] = await context.cookies();
    expect(more).toEqual([]);
    expect(cookie).toMatchObject({ name: "writ_admin_session", path: "/admin", httpOnly: true, sameSite: "Strict" });
    expect(cookie?.value).not.toContain(DEV_VARS.ADMIN_TOKEN);
    // The cookie opens the page only: the admin API still wants the bearer token.
    const api = await page.request.get(`${broker.url}/admin/agents/support-bot`);
    expect(api.status()).toBe(401);
  });

  it("lists every agent with its status and what is left of its budgets", async () => {
    expect(await page.locator("tr[data-agent]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-agent")))).toEqual([
      "support-bot",
      "billing-agent",
      "report-bot",
      "retired-bot",
    ]);
    expect(await text('tr[data-agent="support-bot"] .badge')).toBe("active");
    expect(await text('tr[data-agent="retired-bot"] .badge')).toBe("disabled in policy");
    expect(await text('tr[data-agent="support-bot"] li[data-budget="agent support-bot: 5000 tokens per day"]')).toContain("5000 of 5000");
    expect(await text('tr[data-agent="report-bot"]')).toContain("2 of 2");
    expect(await text("#no-pending")).toBe("No approval request is waiting for a decision.");
  });

  it("after a reload, shows a refused token request, a spent budget and a pending CIBA approval", async () => {
    const refused = await requestToken({ ...agent("support-bot"), useCase: "billing.invoices.refund", intent: "refund it myself" }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(WritTokenError);
    expect((refused as WritTokenError).error).toBe("invalid_scope");
    await requestToken({ ...agent("support-bot"), useCase: "crm.customers.read", intent: XSS_INTENT });
    const started = await requestApproval({ ...agent("billing-agent"), useCase: "billing.invoices.refund", intent: PENDING_INTENT });
    const approvalId = started.auth_req_id.split(".")[0] ?? "";

    // Audit events are written just after each response: reload until they are all listed.
    await expect
      .poll(
        async () => {
          await page.reload();
          return page.locator(`tr[data-approval="${approvalId}"], tr[data-type="token_request"]`).count();
        },
        { timeout: 10_000, interval: 200 },
      )
      .toBeGreaterThanOrEqual(3);

    const pending = await text(`tr[data-approval="${approvalId}"]`);
    expect(pending).toContain("billing-agent");
    expect(pending).toContain("billing.invoices.refund");
    expect(pending).toContain(PENDING_INTENT);
    expect(pending).toContain("0 of 2");
    expect(await text('tr[data-agent="billing-agent"] td[data-open-approvals]')).toBe("1");
    expect(await text('tr[data-type="token_request"][data-decision="denied"]')).toContain("use_case_not_allowed");
    // Markup from an agent is shown as the text it is; nothing ran (a dialog would be in `problems`).
    expect(await text('tr[data-type="token_request"][data-decision="issued"] td.intent')).toBe(XSS_INTENT);
    expect(await page.locator("main script, main img").count()).toBe(0);
    expect(await text('tr[data-agent="support-bot"] li[data-budget="agent support-bot: 5000 tokens per day"]')).toContain("4999 of 5000");
    // The refused sign-in was unauthenticated noise: counted under the decisions, never listed among them.
    expect(Number(await text("#noise-day"))).toBeGreaterThanOrEqual(1);
    expect(await text('#noise tr[data-noise-rank="1"]')).toContain("admin_auth:bad_token");
    expect(await page.locator('tr[data-type="admin_auth_failure"]').count()).toBe(0);
    // No approver link anywhere on the page.
    expect(await page.locator('a[href*="/approvals/"]').count()).toBe(0);
    expect(await page.content()).not.toContain("?t=");

    const screenshot = await saveScreenshot(page, "admin");
    expect(screenshot.endsWith("test-results/screenshots/admin.png")).toBe(true);
    const phone = await openPhone(browser);
    await phone.context.addCookies(await context.cookies());
    await phone.page.goto(`${broker.url}/admin`);
    await saveScreenshot(phone.page, "admin-phone");
    await phone.context.close();
  });

  it("on a phone, reaches every column of every table without the page scrolling sideways", async () => {
    const phone = await openPhone(browser);
    await phone.context.addCookies(await context.cookies());
    await phone.page.goto(`${broker.url}/admin`);
    // Open every <details> (the kill switch forms, the usage numbers): what they hold must fit as well.
    await phone.page.evaluate(OPEN_EVERY_DETAILS);
    const layout = (await phone.page.evaluate(LAYOUT_PROBE)) as Layout;

    expect(layout.width).toBe(390);
    expect(layout.pageWidth).toBeLessThanOrEqual(layout.width);
    expect(layout.tables).toBeGreaterThanOrEqual(4);
    expect(layout.cells).toBeGreaterThan(50);
    expect(layout.unreachable).toEqual([]);
    // Every budget of every agent is on screen, not just reachable: the column the issue found hidden.
    for (const budget of await phone.page.locator("li[data-budget]").all()) {
      const box = await budget.boundingBox();
      expect(box && box.x >= 0 && box.x + box.width <= 390, String(await budget.textContent())).toBe(true);
    }
    // Each cell says which column it is, since the header row is out of sight.
    const label = await phone.page.evaluate(
      `getComputedStyle(document.querySelector('tr[data-agent="support-bot"] td[data-label="Budgets left"]'), "::before").content`,
    );
    expect(label).toBe('"Budgets left"');
    await saveScreenshot(phone.page, "admin-phone-open");
    await phone.context.close();
  });

  it("switches an agent off with its button (after asking why), and the agent's next token request is refused; then on again", async () => {
    await page.goto(`${broker.url}/admin`);
    const row = page.locator('tr[data-agent="support-bot"]');
    // The button is one step away: hidden until the admin opens the switch.
    expect(await page.locator("#disable-form-support-bot button").isVisible()).toBe(false);
    await row.locator("summary").click();
    // The browser itself asks for the reason before anything is sent (no script involved).
    await page.click("#disable-form-support-bot button");
    expect(page.url()).toBe(`${broker.url}/admin`);
    await page.fill("#reason-support-bot", "testing the kill switch from the page");
    await Promise.all([
      page.waitForURL(`${broker.url}/admin?switched=support-bot#agent-support-bot`),
      page.click("#disable-form-support-bot button"),
    ]);

    expect(await text("#switch-result")).toContain("support-bot) is switched off");
    expect(await text('tr[data-agent="support-bot"] .badge')).toBe("switched off (kill switch)");
    const refused = await requestToken({ ...agent("support-bot"), useCase: "crm.customers.read" }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(WritTokenError);
    expect((refused as WritTokenError).error).toBe("access_denied");

    await row.locator("summary").click();
    await Promise.all([
      page.waitForURL(`${broker.url}/admin?switched=support-bot#agent-support-bot`),
      page.click("#enable-form-support-bot button"),
    ]);
    expect(await text("#switch-result")).toContain("support-bot) is switched on");
    expect(await text('tr[data-agent="support-bot"] .badge')).toBe("active");
    const token = await requestToken({ ...agent("support-bot"), useCase: "crm.customers.read" });
    expect(token.access_token).toMatch(/^ey/);
    // Both switches are in the decisions, with the reason the admin gave.
    await expect
      .poll(
        async () => {
          await page.reload();
          return page.locator('tr[data-type="admin_action"][data-decision="agent_disabled"]').count();
        },
        { timeout: 10_000, interval: 200 },
      )
      .toBeGreaterThanOrEqual(1);
    expect(await text('tr[data-type="admin_action"][data-decision="agent_disabled"] td.reason')).toContain(
      "testing the kill switch from the page",
    );
    await saveScreenshot(page, "admin-switched");
  });

  it("throws the switch from a phone with JavaScript off", async () => {
    const phone = await openPhone(browser, { javaScriptEnabled: false });
    await phone.context.addCookies(await context.cookies());
    await phone.page.goto(`${broker.url}/admin`);
    await phone.page.click('tr[data-agent="report-bot"] summary');
    await phone.page.fill("#reason-report-bot", "no script needed");
    await Promise.all([
      phone.page.waitForURL(`${broker.url}/admin?switched=report-bot#agent-report-bot`),
      phone.page.click("#disable-form-report-bot button"),
    ]);
    // biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText, not a DOM node read.
    expect(await phone.page.locator("#switch-result").innerText()).toContain("report-bot) is switched off");

    await phone.page.click('tr[data-agent="report-bot"] summary');
    await Promise.all([
      phone.page.waitForURL(`${broker.url}/admin?switched=report-bot#agent-report-bot`),
      phone.page.click("#enable-form-report-bot button"),
    ]);
    expect(await phone.page.locator('tr[data-agent="report-bot"] .badge').textContent()).toBe("active");
    await phone.context.close();
  });

  it("draws each agent's tokens per hour", async () => {
    const bars = page.locator('figure[data-usage-agent="support-bot"] [data-series="tokens"] rect.bar');
    expect(await bars.count()).toBe(24);
    const total = Number(await page.locator('figure[data-usage-agent="support-bot"] div[data-series="tokens"]').getAttribute("data-total"));
    // Two tokens issued to support-bot in this run (the XSS intent and the one after switching back on).
    expect(total).toBe(2);
    const values = await bars.evaluateAll((rects) => rects.map((r) => Number(r.getAttribute("data-value"))));
    expect(values.reduce((a, b) => a + b, 0)).toBe(2);
    const tallest = await bars.evaluateAll((rects) => Math.max(...rects.map((r) => r.getBoundingClientRect().height)));
    expect(tallest).toBeGreaterThan(20);
  });

  it("signs out: the cookie is gone and the page asks to sign in again", async () => {
    await Promise.all([page.waitForURL(`${broker.url}/admin/sign-out`), page.click("#sign-out-form button")]);

    expect(await text("#sign-in-message")).toBe("You are signed out.");
    expect(await context.cookies()).toEqual([]);
    expect((await page.goto(`${broker.url}/admin`))?.status()).toBe(401);
  });

  it("ran no script and broke no CSP rule on any page", () => {
    expect(problems).toEqual([]);
  });
});
