import { env } from "cloudflare:workers";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { describe, expect, it } from "vitest";
import { approverPasskeys, assertionOptions, challengeFromNonce, relyingParty } from "../../worker/approvals/passkey.ts";
import { type OpenedApproval, openApproval, pagePath, stored } from "../support/approval-fixture.ts";
import { approverApp, call, enrolPasskey, postForm } from "../support/approver-app.ts";
import { attributesOf, formOf, textOf } from "../support/html.ts";
import { SoftAuthenticator } from "../support/soft-authenticator.ts";

const app = approverApp();
const PASSKEY_ONLY = { approver_auth: ["passkey"], link_only: false };

/** Each test enrols its own approver, so passkeys never leak between tests. */
function approvers(): { ann: string; ben: string } {
  const id = crypto.randomUUID().slice(0, 8);
  return { ann: `ann-${id}@example.com`, ben: `ben-${id}@example.com` };
}

async function passkeyPage(opened: OpenedApproval, approver: string) {
  const response = await call(app, pagePath(opened, approver));
  const html = await response.text();
  const [optionsJson] = await attributesOf(html, "#approve-form", "data-passkey-options");
  return {
    response,
    html,
    form: await formOf(html, "approve-form"),
    options: JSON.parse(optionsJson ?? "null") as PublicKeyCredentialRequestOptionsJSON,
  };
}

describe("relying party and assertion options", () => {
  it("names APPROVAL_ORIGIN as the relying party, falling back to ISSUER", () => {
    expect(relyingParty(env)).toEqual({ origin: "http://localhost:8787", rpID: "localhost", rpName: "Writ approvals" });
    expect(relyingParty({ ISSUER: "https://writ.example.com" })).toMatchObject({
      origin: "https://writ.example.com",
      rpID: "writ.example.com",
    });
    expect(() => relyingParty({ ISSUER: "not a url" })).toThrow(/misconfigured/);
  });

  it("keeps one passkey store per person, whatever the spelling of the address (issue 11)", () => {
    const dana = env.APPROVER_PASSKEYS.idFromName("dana@example.com").toString();
    for (const spelling of ["dana@example.com", "Dana@Example.com", "DANA@EXAMPLE.COM"])
      expect(approverPasskeys(env, spelling).id.toString(), spelling).toBe(dana);
  });

  it("uses the view's nonce (UTF-8) as the challenge and asks for user verification", async () => {
    const nonce = "1800000000000.abc_DEF-123";
    const options = await assertionOptions(relyingParty(env), nonce, [
      { id: "Y3JlZA", publicKey: "x", counter: 0, transports: ["internal"] },
    ]);
    expect(options.challenge).toBe(challengeFromNonce(nonce));
    expect(
      new TextDecoder().decode(
        Uint8Array.from(
          atob(options.challenge.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (options.challenge.length % 4)) % 4)),
          (c) => c.charCodeAt(0),
        ),
      ),
    ).toBe(nonce);
    expect(options).toMatchObject({
      rpId: "localhost",
      userVerification: "required",
      allowCredentials: [{ id: "Y3JlZA", type: "public-key", transports: ["internal"] }],
    });
  });
});

describe("passkey step-up on the approval page", () => {
  it("approves with a passkey the approver enrolled, bound to the page's nonce", async () => {
    const { ann, ben } = approvers();
    const key = await SoftAuthenticator.create();
    expect((await enrolPasskey(app, ann, key)).completed.status).toBe(201);
    const opened = await openApproval({ settings: { ...PASSKEY_ONLY, approvers: [ann, ben] } });
    const page = await passkeyPage(opened, ann);
    expect(await textOf(page.html, "#approve-form button")).toBe("Approve with passkey");
    expect(page.options.challenge).toBe(challengeFromNonce(page.form.nonce ?? ""));
    expect(page.options.allowCredentials?.map((c) => c.id)).toEqual([key.credentialId]);
    expect(page.form.webauthn).toBe("");

    const assertion = await key.assert(page.options);
    const response = await postForm(app, `/approvals/${opened.approvalId}`, { ...page.form, webauthn: JSON.stringify(assertion) });
    expect(response.status).toBe(200);
    expect(await textOf(await response.text(), "h1")).toBe("Approved");
    expect((await stored(opened)).decisions).toEqual([{ approver: ann, decision: "approve", auth_method: "passkey" }]);
  });

  it("refuses garbage in the webauthn field with 403 and records nothing", async () => {
    const { ann, ben } = approvers();
    await enrolPasskey(app, ann, await SoftAuthenticator.create());
    const opened = await openApproval({ settings: { ...PASSKEY_ONLY, approvers: [ann, ben] } });
    const { form } = await passkeyPage(opened, ann);
    for (const garbage of ["not json", "{}", "null", JSON.stringify({ id: "x", rawId: "x", type: "public-key", response: {} }), "[]"]) {
      const response = await postForm(app, `/approvals/${opened.approvalId}`, { ...form, webauthn: garbage });
      expect(response.status, garbage).toBe(403);
      expect(await textOf(await response.text(), "h1")).toBe("Passkey not accepted");
    }
    expect(await stored(opened)).toEqual({ status: "pending", decisions: [], usedLinks: 0 });
  });

  it("refuses an assertion made for another page view (replay onto a fresh nonce)", async () => {
    const { ann, ben } = approvers();
    const key = await SoftAuthenticator.create();
    await enrolPasskey(app, ann, key);
    const opened = await openApproval({ settings: { ...PASSKEY_ONLY, approvers: [ann, ben] } });
    const first = await passkeyPage(opened, ann);
    const assertion = await key.assert(first.options);
    const otherRequest = await openApproval({ settings: { ...PASSKEY_ONLY, approvers: [ann, ben] } });
    const other = await passkeyPage(otherRequest, ann);
    const response = await postForm(app, `/approvals/${otherRequest.approvalId}`, { ...other.form, webauthn: JSON.stringify(assertion) });
    expect(response.status).toBe(403);
    expect((await stored(otherRequest)).decisions).toEqual([]);
    // Moving the nonce along with the assertion does not help either: the nonce belongs to another link.
    const moved = await postForm(app, `/approvals/${otherRequest.approvalId}`, {
      ...other.form,
      nonce: first.form.nonce ?? "",
      webauthn: JSON.stringify(assertion),
    });
    expect(moved.status).toBe(400);
    expect((await stored(otherRequest)).decisions).toEqual([]);
  });

  it("refuses an assertion without user verification, from a foreign origin, or from another approver's passkey", async () => {
    const { ann, ben } = approvers();
    const annKey = await SoftAuthenticator.create();
    const benKey = await SoftAuthenticator.create();
    await enrolPasskey(app, ann, annKey);
    await enrolPasskey(app, ben, benKey);
    const opened = await openApproval({ settings: { ...PASSKEY_ONLY, approvers: [ann, ben] } });
    const { form, options } = await passkeyPage(opened, ann);
    const attempts = [
      await annKey.assert(options, { userVerified: false }),
      await annKey.assert(options, { origin: "https://evil.example" }),
      await annKey.assert({ ...options, rpId: "evil.example" }),
      await benKey.assert(options),
    ];
    for (const assertion of attempts) {
      const response = await postForm(app, `/approvals/${opened.approvalId}`, { ...form, webauthn: JSON.stringify(assertion) });
      expect(response.status).toBe(403);
    }
    expect(await stored(opened)).toEqual({ status: "pending", decisions: [], usedLinks: 0 });
  });

  it("refuses a signature counter that went backwards (a cloned authenticator)", async () => {
    const { ann, ben } = approvers();
    const key = await SoftAuthenticator.create(10);
    await enrolPasskey(app, ann, key);
    const first = await openApproval({ settings: { ...PASSKEY_ONLY, approvers: [ann, ben] } });
    const page = await passkeyPage(first, ann);
    expect(
      (await postForm(app, `/approvals/${first.approvalId}`, { ...page.form, webauthn: JSON.stringify(await key.assert(page.options)) }))
        .status,
    ).toBe(200);
    const second = await openApproval({ settings: { ...PASSKEY_ONLY, approvers: [ann, ben] } });
    const again = await passkeyPage(second, ann);
    const cloned = await key.assert(again.options, { counter: 5 });
    expect((await postForm(app, `/approvals/${second.approvalId}`, { ...again.form, webauthn: JSON.stringify(cloned) })).status).toBe(403);
    expect((await stored(second)).decisions).toEqual([]);
  });

  it("without an enrolled passkey offers no Approve button but still a Deny", async () => {
    const { ann, ben } = approvers();
    const opened = await openApproval({ settings: { ...PASSKEY_ONLY, approvers: [ann, ben] } });
    const response = await call(app, pagePath(opened, ann));
    const html = await response.text();
    expect(response.status).toBe(200);
    expect(await attributesOf(html, "#approve-form", "id")).toEqual([]);
    expect(await textOf(html, "#approve-unavailable")).toContain(`No passkey is enrolled for ${ann}`);
    expect(await textOf(html, "#deny-form button")).toBe("Deny");
  });
});
