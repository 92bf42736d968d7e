import { exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { parseAuthReqId } from "../../core/approvals/auth-req-id.ts";
import { adminPage, signIn } from "../support/admin.ts";
import { ISSUER } from "../support/assertions.ts";
import { auditAll } from "../support/audit.ts";
import { linkOf, sentMails, startApproval } from "../support/ciba.ts";
import { attributesOf, decodeEntities, formOf, SECURITY_HEADERS, textOf } from "../support/html.ts";
import { fetchFrom, freshNetworkAddress, networkOf, waitForNoise } from "../support/noise.ts";
import { ADMIN_BEARER, exchange } from "../support/requests.ts";

const REFUND = "billing.invoices.refund";
const SEARCH = "crm.customers.search";

function expectPageHeaders(response: Response): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(response.headers.get(name), name).toBe(value);
  expect(response.headers.get("content-type")).toMatch(/^text\/html/);
}

/** The text of one table row, found by a data attribute (e.g. `data-agent="support-bot"`). */
function rowText(html: string, attribute: string, value: string): Promise<string | undefined> {
  return textOf(html, `tr[${attribute}="${value}"]`);
}

/** Reloads the page until `check` passes: audit events are written after each response (waitUntil). */
function eventually(check: (html: string) => Promise<void> | void): Promise<void> {
  return vi.waitFor(
    async () => {
      const { html } = await adminPage(ADMIN_BEARER);
      await check(html);
    },
    { timeout: 5_000, interval: 100 },
  );
}

/** An approver's vote through the approval page, as their browser would cast it. */
async function vote(link: URL, decision: "approve" | "deny"): Promise<void> {
  const page = await exports.default.fetch(link.href);
  const form = await formOf(await page.text(), decision === "approve" ? "approve-form" : "deny-form");
  const posted = await exports.default.fetch(`${ISSUER}${link.pathname}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  });
  expect(posted.status).toBe(200);
}

describe("GET /admin: who may look", () => {
  it("shows a browser that presents nothing a sign-in form, and none of the broker's state", async () => {
    const { response, html } = await adminPage();

    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="writ-admin"');
    expectPageHeaders(response);
    expect(await attributesOf(html, "#sign-in-form", "action")).toEqual(["/admin/session"]);
    expect(await attributesOf(html, "#sign-in-form", "method")).toEqual(["post"]);
    expect(await attributesOf(html, "#admin-token", "type")).toEqual(["password"]);
    expect(html).not.toContain("support-bot");
    expect(html).not.toContain("<script");
  });

  it("keeps no durable record of a browser loading the sign-in form, however often", async () => {
    const ip = freshNetworkAddress();
    for (let i = 0; i < 5; i++) expect((await fetchFrom(ip, "/admin")).status).toBe(401);
    // A wrong token from the same network afterwards: once its count is in, the form's requests have long finished.
    expect((await fetchFrom(ip, "/admin", { headers: { authorization: "Bearer guess" } })).status).toBe(401);
    await waitForNoise(1, (row) => row.network === networkOf(ip));
    expect((await auditAll()).filter((r) => r.ip === ip)).toEqual([]);
  });

  it("answers a wrong bearer token with the sign-in form and a reason, and records the failure", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const { response, html } = await adminPage({ authorization: "Bearer not-the-admin-token" });

    expect(response.status).toBe(401);
    expect(await textOf(html, "#sign-in-message")).toBe("That admin token was not accepted.");
    expect(html).not.toContain("support-bot");
    expect(warn.mock.calls.some(([line]) => /"event":"admin_auth_failed".*"why":"bad_token"/.test(String(line)))).toBe(true);
    warn.mockRestore();
  });

  it("opens for the admin bearer token", async () => {
    const { response, html } = await adminPage(ADMIN_BEARER);

    expect(response.status).toBe(200);
    expectPageHeaders(response);
    expect(await textOf(html, "h1")).toBe("Broker overview");
    expect(await textOf(html, "#signed-in")).toMatch(/^Signed in as the admin token · as of \d{4}-\d\d-\d\d/);
    // Nothing to sign out of: the bearer header is the caller's own.
    expect(html).not.toContain('id="sign-out-form"');
  });
});

describe("GET /admin: agents and budgets", () => {
  it("lists every agent of the policy with its status", async () => {
    const { html } = await adminPage(ADMIN_BEARER);

    expect(await attributesOf(html, "tr[data-agent]", "data-agent")).toEqual(["support-bot", "billing-agent", "report-bot", "retired-bot"]);
    expect(await rowText(html, "data-agent", "support-bot")).toMatch(
      // Its use cases as the policy lists them (a policy may add more after these), then its status.
      /^Customer support assistant support-bot · alice@example\.com crm\.customers\.read crm\.customers\.search crm\.customers\.export( [\w.-]+)* active /,
    );
    expect(await attributesOf(html, 'tr[data-agent="retired-bot"] [data-status]', "data-status")).toEqual(["disabled_by_policy"]);
    expect(await textOf(html, 'tr[data-agent="retired-bot"] .badge')).toBe("disabled in policy");
  });

  it("shows what is left of each budget, and a token spends it", async () => {
    const budget = (html: string, name: string) => textOf(html, `tr[data-agent="support-bot"] li[data-budget="${name}"] .budget-left`);
    const before = (await adminPage(ADMIN_BEARER)).html;
    const daily = "use case crm.customers.search: 2000 max_rows per day";
    const agentDaily = "agent support-bot: 5000 tokens per day";
    const leftBefore = Number((await budget(before, daily))?.split(" of ")[0]);
    const agentLeftBefore = Number((await budget(before, agentDaily))?.split(" of ")[0]);

    const issued = await exchange("support-bot", { scope: SEARCH, intent: "look up the customer who wrote ticket SUP-9" });
    expect(issued.status).toBe(200);

    const after = (await adminPage(ADMIN_BEARER)).html;
    expect(await budget(after, daily)).toBe(`${leftBefore - 20} of 2000`);
    expect(await budget(after, agentDaily)).toBe(`${agentLeftBefore - 1} of 5000`);
    expect(await budget(after, "use case crm.customers.search: 6 tokens per minute")).toMatch(/^[0-2] of 3$/);
    expect(await attributesOf(after, `tr[data-agent="support-bot"] li[data-budget="${daily}"] meter`, "max")).toEqual(["2000"]);
    expect(await textOf(after, 'tr[data-agent="support-bot"] td:nth-child(5)')).toMatch(/^\d+ · last \d+ s ago$/);
  });

  it("marks an agent switched off by the kill switch, and active again once enabled", async () => {
    const post = (path: string) => exports.default.fetch(`${ISSUER}${path}`, { method: "POST", headers: ADMIN_BEARER });
    expect((await post("/admin/agents/report-bot/disable")).status).toBe(200);
    const off = (await adminPage(ADMIN_BEARER)).html;
    expect(await textOf(off, 'tr[data-agent="report-bot"] .badge')).toBe("switched off (kill switch)");

    expect((await post("/admin/agents/report-bot/enable")).status).toBe(200);
    const on = (await adminPage(ADMIN_BEARER)).html;
    expect(await textOf(on, 'tr[data-agent="report-bot"] .badge')).toBe("active");
  });
});

describe("GET /admin: recent decisions", () => {
  it("lists a refused token request with the rule that refused it", async () => {
    const intent = "refund invoice INV-77 without asking anyone";
    const refused = await exchange("support-bot", { scope: REFUND, intent });
    expect(refused.status).toBe(400);

    await eventually(async (html) => {
      const row = await textOf(html, 'tr[data-type="token_request"][data-decision="denied"]');
      // The audit trail names the rule that refused (and, where it records one, the use case the agent named).
      expect(row).toMatch(
        /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d token request support-bot (billing\.invoices\.refund|—) denied use_case_not_allowed$/,
      );
    });
  });

  it("shows agent-provided text as text: an intent holding markup cannot inject anything", async () => {
    const intent = `<script>alert("pwned")</script><img src=x onerror=alert(1)> "quoted" & 'single'`;
    const issued = await exchange("billing-agent", { scope: "crm.customers.read", intent });
    expect(issued.status).toBe(200);

    await eventually(async (html) => {
      expect(html).toContain("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;");
      expect(html).not.toContain("<script>alert");
      expect(html).not.toContain("<img src=x");
      const row = await textOf(html, 'tr[data-type="token_request"][data-decision="issued"] td.intent');
      expect(decodeEntities(row ?? "")).toBe(intent);
    });
  });
});

describe("GET /admin: unauthenticated noise", () => {
  it("shows refusals of nobody in particular as counts, with the most frequent reasons, never as decisions", async () => {
    for (let i = 0; i < 3; i++) expect((await adminPage({ authorization: `Bearer guess-${i}` })).response.status).toBe(401);

    await eventually(async (html) => {
      expect(Number(await textOf(html, "#noise-hour"))).toBeGreaterThanOrEqual(3);
      expect(Number(await textOf(html, "#noise-day"))).toBeGreaterThanOrEqual(3);
      expect(await textOf(html, '#noise tr[data-noise-rank="1"]')).toMatch(/^1 admin_auth:bad_token × \d+ unknown × \d+/);
    });
    const { html } = await adminPage(ADMIN_BEARER);
    expect(html).not.toContain('data-type="admin_auth_failure"');
  });
});

describe("GET /admin: pending approvals", () => {
  it("lists a pending CIBA request with its approvals so far, and drops it once an approver denies it", async () => {
    const intent = "refund invoice INV-4410: the customer was charged twice";
    const started = await startApproval("billing-agent", { scope: `openid ${REFUND}`, intent });
    expect(started.status).toBe(200);
    const { auth_req_id } = await started.json<{ auth_req_id: string }>();
    const approvalId = parseAuthReqId(auth_req_id)?.approvalId ?? "";
    const mails = await sentMails(approvalId);
    const tokens = await Promise.all(mails.map(async (mail) => (await linkOf(mails, mail.to)).token));
    expect(tokens).toHaveLength(3);

    await eventually(async (html) => {
      expect(await rowText(html, "data-approval", approvalId)).toMatch(
        new RegExp(
          `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d billing-agent ${REFUND.replace(/\./g, "\\.")} ${intent} 0 of 2 in 1[45] min ${approvalId}$`,
        ),
      );
      expect(await textOf(html, 'tr[data-agent="billing-agent"] td[data-open-approvals]')).not.toBe("0");
      // Approvers' links are theirs alone: not a token, not even a link to the approval page.
      for (const token of tokens) expect(html).not.toContain(token);
      expect(html).not.toContain("/approvals/");
      expect(html).not.toContain(auth_req_id);
    });

    await vote((await linkOf(mails, "dana@example.com")).url, "approve");
    await eventually(async (html) => {
      expect(await rowText(html, "data-approval", approvalId)).toContain("1 of 2 (dana@example.com)");
    });

    await vote((await linkOf(mails, "frank@example.com")).url, "deny");
    await eventually(async (html) => {
      expect(await rowText(html, "data-approval", approvalId)).toBeUndefined();
      const votes = await textOf(html, `tr[data-type="approval_decision"][data-decision="deny"]`);
      expect(votes).toContain("deny by frank@example.com");
      expect(votes).toContain(approvalId);
    });
  });
});

describe("GET /admin with the browser session", () => {
  it("opens the page with the session cookie and offers to sign out", async () => {
    const { cookie } = await signIn();
    const { response, html } = await adminPage({ cookie });

    expect(response.status).toBe(200);
    expect(await textOf(html, "#signed-in")).toMatch(/^Signed in as the admin token \(browser session\)/);
    expect(await attributesOf(html, "#sign-out-form", "action")).toEqual(["/admin/sign-out"]);
  });

  it("serves the admin styles from the page's one stylesheet", async () => {
    const css = await exports.default.fetch(`${ISSUER}/assets/approval.css`);
    expect(css.status).toBe(200);
    const text = await css.text();
    expect(text).toContain(".table-wrap");
    expect(text).toContain("blockquote");
  });
});
