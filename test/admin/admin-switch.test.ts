import { env, exports } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it, vi } from "vitest";
import { ADMIN_SESSION_COOKIE, issueAdminSession } from "../../worker/admin/admin-session.ts";
import type { AppEnv } from "../../worker/app-env.ts";
import { requestLog } from "../../worker/middleware/request-log.ts";
import { adminViewRoutes } from "../../worker/routes/admin-view.ts";
import { adminPage, postAdminForm, signIn } from "../support/admin.ts";
import { ISSUER } from "../support/assertions.ts";
import { waitForRecords } from "../support/audit.ts";
import { accessTeam } from "../support/cloudflare-access.ts";
import { attributesOf, SECURITY_HEADERS, textOf } from "../support/html.ts";
import type { OAuthError } from "../support/oauth.ts";
import { ADMIN_BEARER, brokerPostForm, exchange } from "../support/requests.ts";

/** What Chromium sends with a form posted from the admin page itself (the page sends no Referer, so Origin is null). */
const FROM_THE_PAGE = { origin: "null", "sec-fetch-site": "same-origin" } as const;

async function ledgerDisabled(agent: string): Promise<boolean> {
  return (await env.AGENT_LEDGER.getByName(agent).summary([], Date.now())).disabled;
}

function expectPageHeaders(response: Response): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(response.headers.get(name), name).toBe(value);
}

/** Switches an agent back on through the JSON API, so a test leaves the ledger as it found it. */
async function enableAgain(agent: string): Promise<void> {
  expect((await brokerPostForm(`/admin/agents/${agent}/enable`, null, ADMIN_BEARER)).status).toBe(200);
}

describe("the kill switch buttons of the admin page", () => {
  it("offer every active agent a form that asks why, and a switched-off agent a form to switch it on", async () => {
    const { html } = await adminPage(ADMIN_BEARER);

    expect(await attributesOf(html, 'tr[data-agent="billing-agent"] form', "action")).toEqual(["/admin/switch/billing-agent/disable"]);
    expect(await attributesOf(html, 'tr[data-agent="billing-agent"] form', "method")).toEqual(["post"]);
    expect(await attributesOf(html, "#reason-billing-agent", "required")).toEqual([""]);
    expect(await attributesOf(html, "#reason-billing-agent", "name")).toEqual(["reason"]);
    // The form sits in a closed <details>: opening it is the first step, its button the confirmation.
    expect(await textOf(html, 'tr[data-agent="billing-agent"] details summary')).toBe("Switch off…");
    expect(await textOf(html, "#disable-form-billing-agent button")).toBe("Switch billing-agent off");
    expect(await textOf(html, 'tr[data-agent="retired-bot"] td.switch')).toBe("off in the policy file");
    expect(html).not.toContain("<script");
  });

  it("switch an agent off from a signed-in browser: 303 back to the page, the ledger refuses its tokens, the record says why", async () => {
    const { cookie } = await signIn();
    const reason = "its key showed up in a public <gist>";

    const off = await postAdminForm("/admin/switch/billing-agent/disable", { reason }, { ...FROM_THE_PAGE, cookie });

    expect(off.status).toBe(303);
    expect(off.headers.get("location")).toBe("/admin?switched=billing-agent#agent-billing-agent");
    expectPageHeaders(off);
    expect(await ledgerDisabled("billing-agent")).toBe(true);
    const refused = await exchange("billing-agent", { scope: "crm.customers.read" });
    expect(refused.status).toBe(403);
    expect(await refused.json<OAuthError>()).toMatchObject({ error: "access_denied", error_description: "agent is disabled" });

    const { html } = await adminPageAt("/admin?switched=billing-agent", cookie);
    expect(await textOf(html, "#switch-result")).toBe(
      "Billing reconciliation agent ( billing-agent) is switched off: every new token is refused and every token it held is inactive.",
    );
    expect(await textOf(html, 'tr[data-agent="billing-agent"] .badge')).toBe("switched off (kill switch)");
    expect(await attributesOf(html, 'tr[data-agent="billing-agent"] form', "action")).toEqual(["/admin/switch/billing-agent/enable"]);

    const [record] = await waitForRecords(
      1,
      (r) => r.agent === "billing-agent" && r.decision === "agent_disabled" && r.detail !== "admin=token",
    );
    expect(record).toMatchObject({
      type: "admin_action",
      decision: "agent_disabled",
      agent: "billing-agent",
      status: 303,
      detail: `admin=session; reason: ${reason}`,
    });

    const on = await postAdminForm("/admin/switch/billing-agent/enable", {}, { ...FROM_THE_PAGE, cookie });
    expect(on.status).toBe(303);
    expect(await ledgerDisabled("billing-agent")).toBe(false);
    expect((await exchange("billing-agent", { scope: "crm.customers.read" })).status).toBe(200);
    const again = await adminPageAt("/admin?switched=billing-agent", cookie);
    expect(await textOf(again.html, "#switch-result")).toBe(
      "Billing reconciliation agent ( billing-agent) is switched on: new tokens are issued again.",
    );
    await waitForRecords(1, (r) => r.agent === "billing-agent" && r.decision === "agent_enabled" && r.detail === "admin=session");
  });

  it("leave the same record as the JSON API's kill switch, which goes through the same code", async () => {
    expect((await brokerPostForm("/admin/agents/billing-agent/disable", null, ADMIN_BEARER)).status).toBe(200);
    await enableAgain("billing-agent");
    const [api] = await waitForRecords(
      1,
      (r) => r.agent === "billing-agent" && r.decision === "agent_disabled" && r.detail === "admin=token",
    );
    const page = await postAdminForm(
      "/admin/switch/billing-agent/disable",
      { reason: "same record" },
      { ...ADMIN_BEARER, ...FROM_THE_PAGE },
    );
    expect(page.status).toBe(303);
    await enableAgain("billing-agent");
    const [fromPage] = await waitForRecords(1, (r) => r.agent === "billing-agent" && r.detail === "admin=token; reason: same record");

    const shape = ({ type, decision, agent, reason }: NonNullable<typeof api>) => ({ type, decision, agent, reason });
    expect(shape(fromPage as NonNullable<typeof api>)).toEqual(shape(api as NonNullable<typeof api>));
  });

  it("the page shows the ledger's state, not what the address bar claims", async () => {
    const { html } = await adminPageAt("/admin?switched=billing-agent", undefined, ADMIN_BEARER);
    expect(await textOf(html, "#switch-result")).toContain("is switched on");
    const unknown = await adminPageAt("/admin?switched=%3Cscript%3E", undefined, ADMIN_BEARER);
    expect(await textOf(unknown.html, "#switch-result")).toBeUndefined();
  });

  it("refuse a form posted from another site with a valid session: 403, nothing switched, nothing recorded as a switch", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const { cookie } = await signIn();
    const attempts: Record<string, string>[] = [
      { origin: "https://evil.example" },
      { origin: "https://evil.example", "sec-fetch-site": "cross-site" },
      // A sibling site on the same registrable domain: same-site, but not this origin.
      { origin: "null", "sec-fetch-site": "same-site" },
      { origin: "https://writ.example.com.evil.example", "sec-fetch-site": "cross-site" },
    ];
    for (const headers of attempts) {
      const response = await postAdminForm("/admin/switch/billing-agent/disable", { reason: "csrf" }, { ...headers, cookie });

      expect(response.status, JSON.stringify(headers)).toBe(403);
      expectPageHeaders(response);
      const html = await response.text();
      expect(await textOf(html, "#admin-problem")).toBe(
        "cross-site request refused: admin actions must come from the broker's own pages or carry the bearer token",
      );
      expect(await textOf(html, "#admin-problem-request")).toBe(response.headers.get("x-request-id"));
      expect(await ledgerDisabled("billing-agent")).toBe(false);
    }
    const refusals = await waitForRecords(attempts.length, (r) => r.agent === undefined && r.reason === "cross_site_request");
    expect(refusals.every((r) => r.decision === "denied" && r.status === 403 && r.detail === "admin=session")).toBe(true);
    expect(warn.mock.calls.filter(([line]) => String(line).includes('"event":"admin_cross_site_refused"'))).toHaveLength(attempts.length);
    warn.mockRestore();
  });

  it("refuse a form posted without a credential, or with a bad or foreign session, with the sign-in form and no state change", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const foreign = (await issueAdminSession("another-brokers-token", Date.now())).value;
    const cases: [Record<string, string>, string | undefined][] = [
      [{}, undefined],
      [
        { cookie: `${ADMIN_SESSION_COOKIE}=${foreign}` },
        "Your session is no longer valid (the admin token may have changed). Sign in again.",
      ],
      [
        { cookie: `${ADMIN_SESSION_COOKIE}=v1.garbage` },
        "Your session is no longer valid (the admin token may have changed). Sign in again.",
      ],
      [{ authorization: "Bearer not-the-admin-token" }, "That admin token was not accepted."],
    ];
    for (const [headers, message] of cases) {
      const response = await postAdminForm("/admin/switch/billing-agent/disable", { reason: "nobody" }, { ...FROM_THE_PAGE, ...headers });

      expect(response.status, JSON.stringify(headers)).toBe(401);
      expectPageHeaders(response);
      const html = await response.text();
      expect(await textOf(html, "h1")).toBe("Sign in");
      expect(await textOf(html, "#sign-in-message")).toBe(message);
      expect(html).not.toContain("support-bot");
      expect(await ledgerDisabled("billing-agent")).toBe(false);
    }
    warn.mockRestore();
  });

  it("refuse an agent the policy does not name with a page that says so, and switch nothing", async () => {
    const { cookie } = await signIn();
    const response = await postAdminForm("/admin/switch/ghost-bot/disable", { reason: "who?" }, { ...FROM_THE_PAGE, cookie });

    expect(response.status).toBe(404);
    expectPageHeaders(response);
    expect(await textOf(await response.text(), "#admin-problem")).toBe("unknown agent");
    expect(await ledgerDisabled("ghost-bot")).toBe(false);
  });

  it("refuse a body that is no form without switching anything", async () => {
    const { cookie } = await signIn();
    const response = await postAdminForm(
      "/admin/switch/billing-agent/disable",
      { reason: "x" },
      { ...FROM_THE_PAGE, cookie, "content-type": "text/plain" },
    );

    expect(response.status).toBe(400);
    expect(await ledgerDisabled("billing-agent")).toBe(false);
  });

  it("keep a switch-off without a reason working (the form asks for one; an emergency is never refused for it)", async () => {
    const { cookie } = await signIn();
    const response = await postAdminForm("/admin/switch/billing-agent/disable", {}, { ...FROM_THE_PAGE, cookie });

    expect(response.status).toBe(303);
    expect(await ledgerDisabled("billing-agent")).toBe(true);
    await enableAgain("billing-agent");
  });
});

describe("the kill switch buttons behind Cloudflare Access", () => {
  const accessEnv = {
    ...env,
    ACCESS_TEAM_DOMAIN: "https://acme.cloudflareaccess.com",
    ADMIN_ACCESS_AUD: "admin-aud",
    ADMIN_EMAILS: "ops@example.com",
  };

  it("take an admin's Access identity from the page itself, and refuse it from another site", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const info = vi.spyOn(console, "log").mockImplementation(() => {});
    const team = await accessTeam(accessEnv.ACCESS_TEAM_DOMAIN);
    const view = new Hono<AppEnv>();
    view.use(requestLog());
    view.route("/", adminViewRoutes({ accessKeys: () => team.jwks }));
    const post = async (path: string, headers: Record<string, string>) =>
      view.request(
        `${ISSUER}${path}`,
        {
          method: "POST",
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "cf-access-jwt-assertion": await team.assertion({ email: "ops@example.com" }, "admin-aud"),
            ...headers,
          },
          body: new URLSearchParams({ reason: "from Access" }),
        },
        accessEnv,
      );

    const forged = await post("/admin/switch/billing-agent/disable", { origin: "https://evil.example", "sec-fetch-site": "cross-site" });
    expect(forged.status).toBe(403);
    expect(await ledgerDisabled("billing-agent")).toBe(false);

    const off = await post("/admin/switch/billing-agent/disable", FROM_THE_PAGE);
    expect(off.status).toBe(303);
    expect(await ledgerDisabled("billing-agent")).toBe(true);
    // Mounted bare (no audit event declared), so the request's log line shows who switched it and why.
    expect(info.mock.calls.some(([line]) => String(line).includes('"detail":"admin=ops@example.com; reason: from Access"'))).toBe(true);
    expect((await post("/admin/switch/billing-agent/enable", FROM_THE_PAGE)).status).toBe(303);
    expect(await ledgerDisabled("billing-agent")).toBe(false);
    warn.mockRestore();
    info.mockRestore();
  });
});

/** GET of a path under /admin with a session cookie or other headers. */
async function adminPageAt(path: string, cookie?: string, headers: Record<string, string> = {}): Promise<{ html: string }> {
  const response = await exports.default.fetch(`${ISSUER}${path}`, { headers: { ...headers, ...(cookie ? { cookie } : {}) } });
  expect(response.status).toBe(200);
  return { html: await response.text() };
}
