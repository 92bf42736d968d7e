import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ENROLMENT_LINK_TTL_MS } from "../../durable-objects/approver-passkeys.ts";
import { approverApp, call, enrolPasskey, postJson } from "../support/approver-app.ts";
import { attributesOf, SECURITY_HEADERS, textOf } from "../support/html.ts";
import { ADMIN_BEARER } from "../support/requests.ts";
import { SoftAuthenticator } from "../support/soft-authenticator.ts";

const app = approverApp();
const newEmail = () => `approver-${crypto.randomUUID().slice(0, 8)}@example.com`;

async function issueLink(email: string): Promise<{ url: URL; token: string; expiresAt: number }> {
  const response = await postJson(app, "/admin/approvers/enrolment-links", { email }, ADMIN_BEARER);
  expect(response.status).toBe(201);
  const body = await response.json<{ url: string; expires_at: number }>();
  const url = new URL(body.url);
  return { url, token: url.searchParams.get("t") ?? "", expiresAt: body.expires_at };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("admin authentication for enrolment links", () => {
  it("asks for a bearer token (401 with a Bearer challenge) when none is sent", async () => {
    const response = await postJson(app, "/admin/approvers/enrolment-links", { email: newEmail() });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="writ-admin"');
  });

  it("refuses a wrong token or another scheme with 401 invalid_token", async () => {
    for (const authorization of ["Bearer wrong-token", "Bearer dev-admin-token-and-more", "Basic ZGV2LWFkbWluLXRva2Vu", "Bearer"]) {
      const response = await postJson(app, "/admin/approvers/enrolment-links", { email: newEmail() }, { authorization });
      expect(response.status, authorization).toBe(401);
      expect(response.headers.get("www-authenticate"), authorization).toMatch(/^Bearer realm="writ-admin"/);
    }
    const wrong = await postJson(app, "/admin/approvers/enrolment-links", { email: newEmail() }, { authorization: "Bearer wrong-token" });
    expect(await wrong.json()).toEqual({ error: "invalid_token", error_description: "admin bearer token rejected" });
  });

  it("answers 503 when ADMIN_TOKEN is unset, whatever is sent", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const response = await postJson(
      app,
      "/admin/approvers/enrolment-links",
      { email: newEmail() },
      { authorization: "Bearer " },
      { ...env, ADMIN_TOKEN: undefined },
    );
    expect(response.status).toBe(503);
    expect(errors.mock.calls.some(([line]) => String(line).includes('"event":"admin_token_unset"'))).toBe(true);
  });

  it("compares the token in constant time over digests", async () => {
    const compare = vi.spyOn(crypto.subtle, "timingSafeEqual");
    await postJson(app, "/admin/approvers/enrolment-links", { email: newEmail() }, { authorization: "Bearer x" });
    await postJson(app, "/admin/approvers/enrolment-links", { email: newEmail() }, ADMIN_BEARER);
    expect(compare).toHaveBeenCalledTimes(2);
    for (const [a, b] of compare.mock.calls) {
      expect((a as ArrayBuffer).byteLength).toBe(32);
      expect((b as ArrayBuffer).byteLength).toBe(32);
    }
  });

  it("issues a one-time link on the approval origin, expiring in 24 hours", async () => {
    const email = newEmail();
    const before = Date.now();
    const { url, token, expiresAt } = await issueLink(email);
    expect(url.origin).toBe("http://localhost:8787");
    expect(url.pathname).toBe(`/enrol/${encodeURIComponent(email)}`);
    expect(token).toMatch(/^[\w-]{43}$/);
    expect(expiresAt).toBeGreaterThanOrEqual(Math.floor((before + ENROLMENT_LINK_TTL_MS) / 1000));
    expect(expiresAt).toBeLessThanOrEqual(Math.floor((Date.now() + ENROLMENT_LINK_TTL_MS) / 1000));
  });

  it("refuses a malformed body, and by default an email that is no approver in the policy", async () => {
    expect((await postJson(app, "/admin/approvers/enrolment-links", { email: "not-an-email" }, ADMIN_BEARER)).status).toBe(400);
    expect((await postJson(app, "/admin/approvers/enrolment-links", "just a string", ADMIN_BEARER)).status).toBe(400);
    const strict = approverApp({ isApprover: (email) => email === "known@example.com" });
    const unknown = await postJson(strict, "/admin/approvers/enrolment-links", { email: "typo@example.com" }, ADMIN_BEARER);
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({
      error: "invalid_request",
      error_description: "typo@example.com is not an approver of any use case in the policy",
    });
    expect((await postJson(strict, "/admin/approvers/enrolment-links", { email: "Known@Example.com" }, ADMIN_BEARER)).status).toBe(201);
  });
});

describe("enrolment link", () => {
  it("shows the enrolment page on GET, twice, without using the link up", async () => {
    const email = newEmail();
    const { url, token } = await issueLink(email);
    for (let i = 0; i < 2; i++) {
      const response = await call(app, `${url.pathname}${url.search}`);
      expect(response.status).toBe(200);
      const html = await response.text();
      expect(await textOf(html, "#enrol-email")).toBe(email);
      expect(await attributesOf(html, "button[data-enrol]", "data-token")).toEqual([token]);
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        if (name === "content-security-policy") expect(response.headers.get(name)).toBe(`${value}; connect-src 'self'`);
        else expect(response.headers.get(name), name).toBe(value);
      }
    }
    const options = await postJson(app, "/enrol/options", { email, t: token });
    expect(options.status).toBe(200);
    expect(await options.json()).toMatchObject({
      rp: { id: "localhost", name: "Writ approvals" },
      user: { name: email, displayName: email },
      attestation: "none",
      authenticatorSelection: { userVerification: "required" },
    });
  });

  it("works once: after a passkey is added, the link is used", async () => {
    const email = newEmail();
    const { token, completed } = await enrolPasskey(app, email, await SoftAuthenticator.create());
    expect(completed.status).toBe(201);
    expect(await completed.json()).toEqual({ status: "enrolled" });
    const page = await call(app, `/enrol/${encodeURIComponent(email)}?t=${token}`);
    expect(page.status).toBe(410);
    expect(await textOf(await page.text(), "h1")).toBe("Link already used");
    const again = await postJson(app, "/enrol/options", { email, t: token });
    expect(again.status).toBe(410);
    expect(await again.json()).toMatchObject({ error: "link_used" });
  });

  it("enrols only one of two passkeys racing on the same link", async () => {
    const email = newEmail();
    const { token } = await issueLink(email);
    const options = await (await postJson(app, "/enrol/options", { email, t: token })).json<Parameters<SoftAuthenticator["register"]>[0]>();
    const [a, b] = await Promise.all([SoftAuthenticator.create(), SoftAuthenticator.create()]);
    const responses = await Promise.all([
      postJson(app, "/enrol/complete", { email, t: token, response: await a.register(options) }),
      postJson(app, "/enrol/complete", { email, t: token, response: await b.register(options) }),
    ]);
    expect(responses.map((r) => r.status).sort()).toEqual([201, 410]);
    expect(await env.APPROVER_PASSKEYS.getByName(email).credentials()).toHaveLength(1);
  });

  it("expires after 24 hours", async () => {
    const email = newEmail();
    const { url, token } = await issueLink(email);
    const later = approverApp({ now: () => Date.now() + ENROLMENT_LINK_TTL_MS + 1000 });
    const page = await call(later, `${url.pathname}${url.search}`);
    expect(page.status).toBe(410);
    expect(await textOf(await page.text(), "h1")).toBe("Link expired");
    const options = await postJson(later, "/enrol/options", { email, t: token });
    expect(options.status).toBe(410);
    expect(await options.json()).toMatchObject({ error: "expired" });
  });

  it("answers an unknown or malformed link with 404", async () => {
    const email = newEmail();
    await issueLink(email);
    for (const path of [`/enrol/${email}?t=${"A".repeat(43)}`, `/enrol/${email}`, `/enrol/not-an-email?t=${"A".repeat(43)}`]) {
      const response = await call(app, path);
      expect(response.status, path).toBe(404);
      expect(await textOf(await response.text(), "h1")).toBe("Link not recognised");
    }
    expect((await postJson(app, "/enrol/options", { email, t: "A".repeat(43) })).status).toBe(404);
  });

  it("refuses a garbage registration (400) without using the link up", async () => {
    const email = newEmail();
    const { token } = await issueLink(email);
    expect((await postJson(app, "/enrol/complete", { email, t: token, response: { id: "x" } })).status).toBe(400);
    await postJson(app, "/enrol/options", { email, t: token });
    for (const response of [{ id: "x" }, "garbage", null]) {
      const refused = await postJson(app, "/enrol/complete", { email, t: token, response });
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ error: "invalid_request", error_description: "the passkey could not be verified" });
    }
    const wrongChallenge = await (await SoftAuthenticator.create()).register({
      rp: { id: "localhost", name: "x" },
      user: { id: "dQ", name: email, displayName: email },
      challenge: "b3RoZXI",
      pubKeyCredParams: [],
    });
    expect((await postJson(app, "/enrol/complete", { email, t: token, response: wrongChallenge })).status).toBe(400);
    expect((await call(app, `/enrol/${encodeURIComponent(email)}?t=${token}`)).status).toBe(200);
    expect(await env.APPROVER_PASSKEYS.getByName(email).credentials()).toEqual([]);
  });

  it("refuses a body that is not JSON or too large", async () => {
    const email = newEmail();
    const { token } = await issueLink(email);
    const form = await call(app, "/enrol/options", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `email=${email}&t=${token}`,
    });
    expect(form.status).toBe(400);
    const huge = await postJson(app, "/enrol/complete", { email, t: token, response: { pad: "x".repeat(40_000) } });
    expect(huge.status).toBe(400);
  });
});
