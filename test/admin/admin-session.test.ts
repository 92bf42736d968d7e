import { env, exports } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it, vi } from "vitest";
import {
  ADMIN_SESSION_COOKIE,
  ADMIN_SESSION_TTL_SECONDS,
  issueAdminSession,
  verifyAdminSession,
} from "../../worker/admin/admin-session.ts";
import type { AppEnv } from "../../worker/app-env.ts";
import { adminAuth } from "../../worker/middleware/admin-auth.ts";
import { requestLog } from "../../worker/middleware/request-log.ts";
import { adminViewRoutes } from "../../worker/routes/admin-view.ts";
import { adminPage, postAdminForm, signIn } from "../support/admin.ts";
import { ISSUER } from "../support/assertions.ts";
import { auditAll, waitForRecords } from "../support/audit.ts";
import { accessTeam } from "../support/cloudflare-access.ts";
import { textOf } from "../support/html.ts";
import { fetchFrom, freshNetworkAddress, waitForNoise } from "../support/noise.ts";
import { ADMIN_BEARER } from "../support/requests.ts";

const HOUR_MS = 3_600_000;

describe("POST /admin/session: signing a browser in", () => {
  it("trades the admin token for an HttpOnly, SameSite=Strict cookie scoped to /admin, valid for an hour", async () => {
    const response = await postAdminForm("/admin/session", { token: "dev-admin-token" });

    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/admin");
    expect(response.headers.get("cache-control")).toBe("no-store");
    const cookie = response.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(new RegExp(`^${ADMIN_SESSION_COOKIE}=v1\\.[A-Za-z0-9_-]{16}\\.\\d{13}\\.[A-Za-z0-9_-]{43};`));
    expect(cookie).toContain("Max-Age=3600");
    expect(cookie).toContain("Path=/admin");
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    // Plain http on a loopback address is local development, where a browser would drop a Secure cookie.
    expect(cookie).not.toContain("Secure");
    // The cookie is a signed expiry, not the token.
    expect(cookie).not.toContain("dev-admin-token");
  });

  it("marks the cookie Secure on any other origin", async () => {
    const response = await exports.default.fetch("https://writ.example.com/admin/session", {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://writ.example.com" },
      body: new URLSearchParams({ token: "dev-admin-token" }),
    });

    expect(response.status).toBe(303);
    expect(response.headers.get("set-cookie")).toMatch(/; Secure(;|$)/);
  });

  it("refuses a wrong token with the form again, sets no cookie, and counts the failure", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const response = await postAdminForm("/admin/session", { token: "guess-1" });

    expect(response.status).toBe(401);
    expect(response.headers.get("set-cookie")).toBeNull();
    expect(await textOf(await response.text(), "#sign-in-message")).toBe("That admin token was not accepted.");
    expect((await postAdminForm("/admin/session", {})).status).toBe(401);
    expect((await postAdminForm("/admin/session", { token: "" })).status).toBe(401);
    warn.mockRestore();
    // Unauthenticated noise: counted per reason, not one audit record each (core/audit/noise.ts).
    await waitForNoise(3, (row) => row.reason === "admin_auth:bad_token");
  });

  it("ignores a sign-in form posted from another site (login CSRF)", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const attempts: Record<string, string>[] = [
      { origin: "https://evil.example" },
      { origin: "https://evil.example", "sec-fetch-site": "cross-site" },
      { origin: "null", "sec-fetch-site": "same-site" },
      { origin: "null" },
    ];
    for (const headers of attempts) {
      const response = await postAdminForm("/admin/session", { token: "dev-admin-token" }, headers);

      expect(response.status, JSON.stringify(headers)).toBe(403);
      expect(response.headers.get("set-cookie")).toBeNull();
      expect(await textOf(await response.text(), "#sign-in-message")).toContain("sent from another site");
    }
    warn.mockRestore();
  });

  it("accepts the form from its own page, which a browser posts with Origin: null (the page sends no Referer)", async () => {
    const response = await postAdminForm(
      "/admin/session",
      { token: "dev-admin-token" },
      { origin: "null", "sec-fetch-site": "same-origin" },
    );

    expect(response.status).toBe(303);
    expect(response.headers.get("set-cookie")).toMatch(/^writ_admin_session=/);
  });
});

describe("the session cookie", () => {
  it("opens nothing but the admin page: no other admin route, and nothing that changes state", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const { cookie } = await signIn();
    const call = (method: string, path: string, body?: string) =>
      exports.default.fetch(`${ISSUER}${path}`, {
        method,
        headers: { cookie, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body }),
      });

    expect((await call("POST", "/admin/agents/report-bot/disable")).status).toBe(401);
    expect((await call("POST", "/admin/approvers/enrolment-links", JSON.stringify({ email: "dana@example.com" }))).status).toBe(401);
    expect((await call("GET", "/admin/agents/support-bot")).status).toBe(401);
    expect((await call("GET", "/admin/audit")).status).toBe(401);
    expect((await call("GET", "/admin/audit/export")).status).toBe(401);
    const agent = await exports.default.fetch(`${ISSUER}/admin/agents/report-bot`, { headers: ADMIN_BEARER });
    expect(await agent.json()).toMatchObject({ disabled: false });
    warn.mockRestore();
  });

  it("answers an expired, tampered or foreign session with the sign-in form", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const now = Date.now();
    const expired = (await issueAdminSession("dev-admin-token", now - 2 * HOUR_MS)).value;
    const foreign = (await issueAdminSession("another-brokers-token", now)).value;
    const valid = (await issueAdminSession("dev-admin-token", now)).value;
    const [payload = "", signature = ""] = [valid.slice(0, valid.lastIndexOf(".")), valid.slice(valid.lastIndexOf(".") + 1)];
    const stretched = `${payload.replace(/\.\d{13}$/, `.${now + 10 * HOUR_MS}`)}.${signature}`;

    const cases: [string, string][] = [
      [expired, "Your session has ended. Sign in again."],
      [foreign, "Your session is no longer valid (the admin token may have changed). Sign in again."],
      [stretched, "Your session is no longer valid (the admin token may have changed). Sign in again."],
      ["v1.not-a-session", "Your session is no longer valid (the admin token may have changed). Sign in again."],
    ];
    for (const [value, message] of cases) {
      const { response, html } = await adminPage({ cookie: `${ADMIN_SESSION_COOKIE}=${value}` });
      expect(response.status, value).toBe(401);
      expect(await textOf(html, "#sign-in-message"), value).toBe(message);
      expect(html).not.toContain("support-bot");
    }
    expect(warn.mock.calls.filter(([line]) => String(line).includes('"why":"session_')).length).toBe(cases.length);
    warn.mockRestore();
  });

  it("is dropped on sign-out", async () => {
    const { cookie } = await signIn();
    const response = await postAdminForm("/admin/sign-out", {}, { cookie });

    expect(response.status).toBe(200);
    expect(response.headers.get("set-cookie")).toMatch(
      new RegExp(`^${ADMIN_SESSION_COOKIE}=; Max-Age=0; Path=/admin; HttpOnly; SameSite=Strict$`),
    );
    expect(await textOf(await response.text(), "#sign-in-message")).toBe("You are signed out.");
  });

  it("records the end of a real session, and keeps nothing of a sign-out form posted with no session", async () => {
    const { cookie } = await signIn();
    const ip = freshNetworkAddress();
    for (let i = 0; i < 5; i++) expect((await fetchFrom(ip, "/admin/sign-out", { method: "POST" })).status).toBe(200);
    expect((await fetchFrom(ip, "/admin/sign-out", { method: "POST", headers: { cookie } })).status).toBe(200);

    const [record] = await waitForRecords(1, (r) => r.ip === ip);
    expect(record).toMatchObject({ type: "admin_action", decision: "admin_signed_out", detail: "admin=session" });
    // The five empty sign-outs came first: had they been recorded, their records would be in by now.
    expect((await auditAll()).filter((r) => r.ip === ip)).toHaveLength(1);
  });
});

describe("verifyAdminSession", () => {
  it("accepts its own session until it expires, and nothing issued for later than one lifetime", async () => {
    const now = Date.now();
    const { value, session } = await issueAdminSession("k", now);

    expect(session.expiresAt).toBe(now + ADMIN_SESSION_TTL_SECONDS * 1000);
    expect(await verifyAdminSession(value, "k", now + HOUR_MS - 1)).toEqual({ ok: true, session });
    expect(await verifyAdminSession(value, "k", now + HOUR_MS)).toEqual({ ok: false, problem: "session_expired" });
    expect(await verifyAdminSession(value, "other", now)).toEqual({ ok: false, problem: "session_forged" });
    expect(await verifyAdminSession(value, "", now)).toEqual({ ok: false, problem: "session_malformed" });
    const future = await issueAdminSession("k", now + 2 * HOUR_MS);
    expect(await verifyAdminSession(future.value, "k", now)).toEqual({ ok: false, problem: "session_forged" });
  });
});

describe("adminAuth and the session cookie", () => {
  function app(options: Parameters<typeof adminAuth>[0]) {
    const routes = new Hono<AppEnv>();
    routes.use(async (c, next) => {
      c.set("requestId", "test");
      c.set("outcome", {});
      await next();
    });
    routes.use("/admin/*", adminAuth(options));
    routes.on(["GET", "POST"], "/admin/ping", (c) => c.json({ admin: c.get("outcome").admin }));
    return routes;
  }

  it("ignores the cookie unless the route opts in, on anything but GET, and whenever an Authorization header is sent", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const cookie = `${ADMIN_SESSION_COOKIE}=${(await issueAdminSession("dev-admin-token", Date.now())).value}`;

    const optedIn = await app({ session: true }).request("/admin/ping", { headers: { cookie } }, env);
    expect(await optedIn.json()).toEqual({ admin: "session" });

    const notOptedIn = await app({}).request("/admin/ping", { headers: { cookie } }, env);
    expect(notOptedIn.status).toBe(401);
    // RFC 6750 §3.1: without a credential the route opted into, the bare challenge and no body.
    expect(notOptedIn.headers.get("www-authenticate")).toBe('Bearer realm="writ-admin"');
    expect(await notOptedIn.text()).toBe("");

    const post = await app({ session: true }).request("/admin/ping", { method: "POST", headers: { cookie } }, env);
    expect(post.status).toBe(401);

    const wrongBearer = await app({ session: true }).request("/admin/ping", { headers: { cookie, authorization: "Bearer nope" } }, env);
    expect(await wrongBearer.json()).toEqual({ error: "invalid_token", error_description: "admin bearer token rejected" });
    warn.mockRestore();
  });
});

describe("GET /admin behind Cloudflare Access", () => {
  const accessEnv = {
    ...env,
    ACCESS_TEAM_DOMAIN: "https://acme.cloudflareaccess.com",
    ADMIN_ACCESS_AUD: "admin-aud",
    ADMIN_EMAILS: "ops@example.com",
  };

  it("opens for an admin's Access identity and shows the sign-in form to anyone else's", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const team = await accessTeam(accessEnv.ACCESS_TEAM_DOMAIN);
    const view = new Hono<AppEnv>();
    view.use(requestLog());
    view.route("/", adminViewRoutes({ accessKeys: () => team.jwks }));
    const assertion = (email: string) => team.assertion({ email }, "admin-aud");

    const admin = await view.request(
      `${ISSUER}/admin`,
      { headers: { "cf-access-jwt-assertion": await assertion("ops@example.com") } },
      accessEnv,
    );
    expect(admin.status).toBe(200);
    expect(await textOf(await admin.text(), "#signed-in")).toMatch(/^Signed in as ops@example\.com/);

    const intern = await view.request(
      `${ISSUER}/admin`,
      { headers: { "cf-access-jwt-assertion": await assertion("intern@example.com") } },
      accessEnv,
    );
    expect(intern.status).toBe(401);
    expect(await textOf(await intern.text(), "#sign-in-message")).toBe("Your Cloudflare Access identity is not an admin of this broker.");

    // Access only (no admin token): a browser that bypassed Access is told to go through it, with no token form.
    const bypassed = await view.request(`${ISSUER}/admin`, {}, { ...accessEnv, ADMIN_TOKEN: undefined });
    expect(bypassed.status).toBe(401);
    const page = await bypassed.text();
    expect(await textOf(page, "#sign-in-message")).toContain("sign in through its Cloudflare Access application");
    expect(page).not.toContain('id="sign-in-form"');
    warn.mockRestore();
  });
});
