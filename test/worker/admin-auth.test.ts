import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from "jose";
import { describe, expect, it, vi } from "vitest";
import type { AppEnv } from "../../worker/app-env.ts";
import { adminAuth } from "../../worker/middleware/admin-auth.ts";

const TEAM = "https://acme.cloudflareaccess.com";
const { privateKey, publicKey } = await generateKeyPair("RS256");
const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256" }] });

function adminApp() {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("requestId", "test");
    c.set("outcome", {});
    await next();
  });
  app.use("/admin/*", adminAuth({ accessKeys: () => jwks }));
  app.get("/admin/ping", (c) => c.json({ ok: true, admin: c.get("outcome").admin }));
  return app;
}

const accessEnv = { ...env, ACCESS_TEAM_DOMAIN: TEAM, ADMIN_ACCESS_AUD: "admin-aud", ADMIN_EMAILS: "ops@example.com, Root@example.com" };

function accessJwt(claims: Record<string, unknown>, audience = "admin-aud") {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid: "k1" })
    .setIssuer(TEAM)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(privateKey);
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
});
