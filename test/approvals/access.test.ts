import { env } from "cloudflare:workers";
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWTVerifyGetKey, SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { accessSettings, verifyAccessJwt } from "../../worker/approvals/access-jwt.ts";
import { type OpenedApproval, openApproval, pagePath, stored } from "../support/approval-fixture.ts";
import { approverApp, call, postForm } from "../support/approver-app.ts";
import { formOf, textOf } from "../support/html.ts";

const TEAM = "https://acme.cloudflareaccess.com";
const AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
const ACCESS_ENV = { ...env, ACCESS_TEAM_DOMAIN: "acme.cloudflareaccess.com", ACCESS_AUD: AUD };
const ACCESS_ONLY = { approver_auth: ["access"], link_only: false };

// A locally generated team key stands in for <team>/cdn-cgi/access/certs: no network in tests.
const teamKey = await generateKeyPair("RS256");
const otherKey = await generateKeyPair("RS256");
const localKeys: JWTVerifyGetKey = createLocalJWKSet({ keys: [{ ...(await exportJWK(teamKey.publicKey)), kid: "team-1", alg: "RS256" }] });
const app = approverApp({ accessKeys: () => localKeys });

type Claims = { email?: string; iss?: string; aud?: string | string[]; exp?: number | string; key?: CryptoKey; kid?: string };
function accessJwt(claims: Claims = {}): Promise<string> {
  const jwt = new SignJWT(claims.email === undefined ? {} : { email: claims.email })
    .setProtectedHeader({ alg: "RS256", kid: claims.kid ?? "team-1" })
    .setIssuer(claims.iss ?? TEAM)
    .setAudience(claims.aud ?? [AUD])
    .setIssuedAt()
    .setExpirationTime(claims.exp ?? "5m");
  return jwt.sign(claims.key ?? teamKey.privateKey);
}

async function pageWithAccess(
  opened: OpenedApproval,
  approver: string,
  headers: Record<string, string>,
  bindings: Cloudflare.Env = ACCESS_ENV,
) {
  const response = await call(app, pagePath(opened, approver), { headers }, bindings);
  const html = await response.text();
  return { response, html };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("Access settings and JWT verification", () => {
  it("normalises the team domain and needs both settings", () => {
    expect(accessSettings({ ACCESS_TEAM_DOMAIN: "acme.cloudflareaccess.com", ACCESS_AUD: AUD })).toEqual({
      teamDomain: TEAM,
      audience: AUD,
    });
    expect(accessSettings({ ACCESS_TEAM_DOMAIN: `${TEAM}/`, ACCESS_AUD: AUD })).toEqual({ teamDomain: TEAM, audience: AUD });
    expect(accessSettings({ ACCESS_TEAM_DOMAIN: TEAM })).toBeUndefined();
    expect(accessSettings({ ACCESS_AUD: AUD })).toBeUndefined();
    expect(accessSettings({ ACCESS_TEAM_DOMAIN: " ", ACCESS_AUD: AUD })).toBeUndefined();
  });

  it("accepts the team's token for the approver and refuses every other", async () => {
    const options = { settings: { teamDomain: TEAM, audience: AUD }, keys: () => localKeys, now: new Date() };
    expect(await verifyAccessJwt(await accessJwt({ email: "Ann@Example.com" }), "ann@example.com", options)).toEqual({
      ok: true,
      email: "Ann@Example.com",
    });
    const refusals: [string | undefined, string][] = [
      [undefined, "access_missing"],
      [await accessJwt({ email: "eve@example.com" }), "access_email_mismatch"],
      [await accessJwt({}), "access_invalid"],
      [await accessJwt({ email: "ann@example.com", aud: "another-app" }), "access_invalid"],
      [await accessJwt({ email: "ann@example.com", iss: "https://evil.cloudflareaccess.com" }), "access_invalid"],
      [await accessJwt({ email: "ann@example.com", exp: Math.floor(Date.now() / 1000) - 120 }), "access_invalid"],
      [await accessJwt({ email: "ann@example.com", key: otherKey.privateKey }), "access_invalid"],
      [await accessJwt({ email: "ann@example.com", kid: "unknown" }), "access_invalid"],
      [
        await new SignJWT({ email: "ann@example.com" })
          .setProtectedHeader({ alg: "HS256" })
          .setIssuer(TEAM)
          .setAudience(AUD)
          .setExpirationTime("5m")
          .sign(new TextEncoder().encode("a shared secret that is long enough")),
        "access_invalid",
      ],
      ["not.a.jwt", "access_invalid"],
    ];
    for (const [token, problem] of refusals) {
      expect(await verifyAccessJwt(token, "ann@example.com", options), `${problem} ${token?.slice(0, 20)}`).toMatchObject({
        ok: false,
        problem,
      });
    }
  });
});

describe("approving behind Cloudflare Access", () => {
  it("approves with the approver's Access identity", async () => {
    const opened = await openApproval({ settings: ACCESS_ONLY });
    const headers = { "Cf-Access-Jwt-Assertion": await accessJwt({ email: "ann@example.com" }) };
    const { response, html } = await pageWithAccess(opened, "ann@example.com", headers);
    expect(response.status).toBe(200);
    expect(await textOf(html, "#approve-form button")).toBe("Approve");
    const decided = await postForm(app, `/approvals/${opened.approvalId}`, await formOf(html, "approve-form"), headers, ACCESS_ENV);
    expect(decided.status).toBe(200);
    expect((await stored(opened)).decisions).toEqual([{ approver: "ann@example.com", decision: "approve", auth_method: "access" }]);
  });

  it("refuses someone else's Access identity, or none, with 403 and records nothing", async () => {
    const opened = await openApproval({ settings: ACCESS_ONLY });
    const { html } = await pageWithAccess(opened, "ann@example.com", {
      "Cf-Access-Jwt-Assertion": await accessJwt({ email: "ann@example.com" }),
    });
    const form = await formOf(html, "approve-form");
    const ben = await postForm(
      app,
      `/approvals/${opened.approvalId}`,
      form,
      { "Cf-Access-Jwt-Assertion": await accessJwt({ email: "ben@example.com" }) },
      ACCESS_ENV,
    );
    expect(ben.status).toBe(403);
    expect(await textOf(await ben.text(), "h1")).toBe("Sign-in not accepted");
    const none = await postForm(app, `/approvals/${opened.approvalId}`, form, {}, ACCESS_ENV);
    expect(none.status).toBe(403);
    expect(await textOf(await none.text(), "h1")).toBe("Stronger sign-in needed");
    expect(await stored(opened)).toEqual({ status: "pending", decisions: [], usedLinks: 0 });
  });

  it("without the Access header the page explains how to approve", async () => {
    const opened = await openApproval({ settings: ACCESS_ONLY });
    const { html } = await pageWithAccess(opened, "ann@example.com", {});
    expect(await textOf(html, "#approve-unavailable")).toContain("Cloudflare Access sign-in");
  });

  it("refuses to approve when the policy needs Access but ACCESS_TEAM_DOMAIN is unset (503, error log), while deny still works", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const opened = await openApproval({ settings: ACCESS_ONLY });
    const headers = { "Cf-Access-Jwt-Assertion": await accessJwt({ email: "ann@example.com" }) };
    const { html } = await pageWithAccess(opened, "ann@example.com", headers, env);
    expect(await textOf(html, "#approve-unavailable")).toContain("not configured on this broker");
    const form = await formOf(html, "deny-form");
    const approve = await postForm(app, `/approvals/${opened.approvalId}`, { ...form, decision: "approve" }, headers, env);
    expect(approve.status).toBe(503);
    expect(await textOf(await approve.text(), "h1")).toBe("Approvals are misconfigured");
    expect(
      errors.mock.calls.filter(([line]) => String(line).includes('"event":"approver_auth_misconfigured"')).length,
    ).toBeGreaterThanOrEqual(2);
    expect(await stored(opened)).toEqual({ status: "pending", decisions: [], usedLinks: 0 });
    expect((await postForm(app, `/approvals/${opened.approvalId}`, form, {}, env)).status).toBe(200);
    expect((await stored(opened)).status).toBe("denied");
  });

  it("refuses (503) rather than accepts when the team's keys cannot be fetched", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const offline = approverApp({
      accessKeys: () => async () => {
        throw new TypeError("fetch failed");
      },
    });
    const opened = await openApproval({ settings: ACCESS_ONLY });
    const headers = { "Cf-Access-Jwt-Assertion": await accessJwt({ email: "ann@example.com" }) };
    const page = await call(offline, pagePath(opened, "ann@example.com"), { headers }, ACCESS_ENV);
    const response = await postForm(
      offline,
      `/approvals/${opened.approvalId}`,
      await formOf(await page.text(), "approve-form"),
      headers,
      ACCESS_ENV,
    );
    expect(response.status).toBe(503);
    expect(errors.mock.calls.some(([line]) => String(line).includes('"event":"access_keys_unavailable"'))).toBe(true);
    expect((await stored(opened)).decisions).toEqual([]);
  });

  it("prefers Access over a passkey ceremony when the use case allows either", async () => {
    const opened = await openApproval({ settings: { approver_auth: ["passkey", "access"], link_only: false } });
    const headers = { "Cf-Access-Jwt-Assertion": await accessJwt({ email: "ann@example.com" }) };
    const { html } = await pageWithAccess(opened, "ann@example.com", headers);
    expect(html).not.toContain("data-passkey-options");
    const decided = await postForm(app, `/approvals/${opened.approvalId}`, await formOf(html, "approve-form"), headers, ACCESS_ENV);
    expect(decided.status).toBe(200);
    expect((await stored(opened)).decisions[0]?.auth_method).toBe("access");
  });
});
