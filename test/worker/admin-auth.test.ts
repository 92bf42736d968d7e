import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it, vi } from "vitest";
import type { AppEnv } from "../../worker/app-env.ts";
import { adminAuth } from "../../worker/middleware/admin-auth.ts";
import { accessTeam } from "../support/cloudflare-access.ts";

const team = await accessTeam("https://acme.cloudflareaccess.com");

function adminApp() {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("requestId", "test");
    c.set("outcome", {});
    await next();
  });
  app.use("/admin/*", adminAuth({ accessKeys: () => team.jwks }));
  app.get("/admin/ping", (c) => c.json({ ok: true, admin: c.get("outcome").admin }));
  app.post("/admin/ping", (c) => c.json({ ok: true, admin: c.get("outcome").admin }));
  return app;
}

const accessEnv = {
  ...env,
  ACCESS_TEAM_DOMAIN: team.domain,
  ADMIN_ACCESS_AUD: "admin-aud",
  ADMIN_EMAILS: "ops@example.com, Root@example.com",
};

function accessJwt(claims: Record<string, unknown>, audience = "admin-aud") {
  return team.assertion(claims, audience);
}

describe("admin authentication", () => {
  it("lets in an admin behind Cloudflare Access by email, case-insensitively", async () => {
    const res = await adminApp().request(
      "/admin/ping",
      { headers: { "cf-access-jwt-assertion": await accessJwt({ email: "root@example.com" }) } },
      accessEnv,
    );
    expect(await res.json()).toEqual({ ok: true, admin: "root@example.com" });
  });

  it("refuses and logs an Access identity that is not an admin, or a token for another application", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    for (const assertion of [
      await accessJwt({ email: "intern@example.com" }),
      await accessJwt({ email: "ops@example.com" }, "approvals-aud"),
    ]) {
      const res = await adminApp().request("/admin/ping", { headers: { "cf-access-jwt-assertion": assertion } }, accessEnv);
      expect(res.status).toBe(401);
    }
    expect(warn.mock.calls.filter(([line]) => String(line).includes('"event":"admin_auth_failed"'))).toHaveLength(2);
    warn.mockRestore();
  });

  it("still accepts the bearer secret, and refuses everything when neither method is configured", async () => {
    const ok = await adminApp().request("/admin/ping", { headers: { authorization: "Bearer dev-admin-token" } }, accessEnv);
    expect(ok.status).toBe(200);
    const closed = await adminApp().request(
      "/admin/ping",
      { headers: { authorization: "Bearer dev-admin-token" } },
      { ...env, ADMIN_TOKEN: undefined },
    );
    expect(closed.status).toBe(503);
  });

  it("lets an Access identity change state only from the broker's own pages (CSRF), and asks nothing of the bearer token", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const access = { "cf-access-jwt-assertion": await accessJwt({ email: "ops@example.com" }) };
    const post = (headers: Record<string, string>) => adminApp().request("/admin/ping", { method: "POST", headers }, accessEnv);

    const crossSite = await post({ ...access, "sec-fetch-site": "cross-site" });
    expect(crossSite.status).toBe(403);
    expect(await crossSite.json()).toEqual({
      error: "access_denied",
      error_description: "cross-site request refused: admin actions must come from the broker's own pages or carry the bearer token",
    });
    expect((await post({ ...access, origin: "https://evil.example" })).status).toBe(403);
    expect((await post({ ...access, "sec-fetch-site": "same-origin" })).status).toBe(200);
    expect((await post({ ...access, origin: "http://localhost" })).status).toBe(200);
    expect((await post({ authorization: "Bearer dev-admin-token", "sec-fetch-site": "cross-site" })).status).toBe(200);
    expect(warn.mock.calls.filter(([line]) => String(line).includes('"event":"admin_cross_site_refused"'))).toHaveLength(2);
    warn.mockRestore();
  });
});
