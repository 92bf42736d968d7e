/**
 * Oversized, mislabelled and ambiguous /token bodies. Each is refused before it can cost the broker memory or be
 * read two ways (RFC 6749 §3.1, §3.2), and none of them spends the genuine assertion it carries.
 */
import { describe, expect, it } from "vitest";
import { assertionFor } from "../support/assertions.ts";
import { FORM_CONTENT_TYPE } from "../support/http.ts";
import { TOKEN_EXCHANGE } from "../support/oauth.ts";
import { expectIssued, expectNotBurnt, expectRefusal } from "../support/token-checks.ts";
import {
  clientCredentialsForm,
  ledgerJtis,
  postToken,
  sendRawRequest,
  TOKEN_ENDPOINT,
  tokenExchangeForm,
} from "../support/token-endpoint.ts";

const MAX_FORM_BYTES = 16 * 1024;
const TOO_LARGE = {
  status: 413,
  error: "invalid_request",
  reason: "body_too_large",
  description: "request body exceeds 16384 bytes",
} as const;

/** A genuine client_credentials form padded with an unknown parameter (ignored by RFC 6749 §3.2) to exactly `bytes`. */
async function paddedForm(bytes: number): Promise<{ body: string; assertion: string }> {
  const assertion = await assertionFor("support-bot");
  const base = `${clientCredentialsForm(assertion).toString()}&padding=`;
  return { body: base + "x".repeat(bytes - base.length), assertion };
}

describe("body size cap (16 KiB)", () => {
  it("accepts a body of exactly 16 KiB", async () => {
    const { body } = await paddedForm(MAX_FORM_BYTES);
    expect(new TextEncoder().encode(body).byteLength).toBe(MAX_FORM_BYTES);
    expectIssued(await postToken(body));
  });

  it("rejects a body one byte over 16 KiB with 413 invalid_request, spending nothing", async () => {
    const { body, assertion } = await paddedForm(MAX_FORM_BYTES + 1);
    const before = await ledgerJtis("support-bot");
    expectRefusal(await postToken(body), TOO_LARGE);
    await expectNotBurnt(assertion, before);
  });

  it("rejects a chunked body without Content-Length once it passes 16 KiB", async () => {
    const { body, assertion } = await paddedForm(4 * MAX_FORM_BYTES);
    const bytes = new TextEncoder().encode(body);
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < bytes.byteLength; offset += 1024) controller.enqueue(bytes.slice(offset, offset + 1024));
        controller.close();
      },
    });
    const before = await ledgerJtis("support-bot");
    const result = await sendRawRequest(
      new Request(TOKEN_ENDPOINT, { method: "POST", headers: { "content-type": FORM_CONTENT_TYPE }, body: chunked }),
    );
    expectRefusal(result, TOO_LARGE);
    await expectNotBurnt(assertion, before);
  });

  it("stops reading an endless chunked body at the cap instead of buffering it", async () => {
    let pulledBytes = 0;
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulledBytes += 1024;
        controller.enqueue(new TextEncoder().encode("a".repeat(1024)));
      },
      cancel() {
        cancelled = true;
      },
    });
    const request = new Request(TOKEN_ENDPOINT, { method: "POST", headers: { "content-type": FORM_CONTENT_TYPE }, body: endless });
    expectRefusal(await sendRawRequest(request), TOO_LARGE);
    expect(cancelled).toBe(true);
    // A stream may read ahead a little; it must not have read far past the cap.
    expect(pulledBytes).toBeLessThan(MAX_FORM_BYTES * 4);
  });

  it("rejects a body larger than its lying Content-Length says", async () => {
    const { body, assertion } = await paddedForm(2 * MAX_FORM_BYTES);
    const request = new Request(TOKEN_ENDPOINT, {
      method: "POST",
      headers: { "content-type": FORM_CONTENT_TYPE, "content-length": "64" },
      body,
    });
    expect(request.headers.get("content-length")).toBe("64");
    const before = await ledgerJtis("support-bot");
    expectRefusal(await sendRawRequest(request), TOO_LARGE);
    await expectNotBurnt(assertion, before);
  });

  it("rejects a Content-Length over the cap without waiting for the body", async () => {
    const request = new Request(TOKEN_ENDPOINT, {
      method: "POST",
      headers: { "content-type": FORM_CONTENT_TYPE, "content-length": "1073741824" },
      // Never closes: if the broker tried to read it, the test would time out.
      body: new ReadableStream<Uint8Array>({ start() {} }),
    });
    expectRefusal(await sendRawRequest(request), TOO_LARGE);
  });
});

describe("content type and encoding", () => {
  it("rejects a JSON body (application/json) with invalid_request", async () => {
    const assertion = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    const json = JSON.stringify(Object.fromEntries(clientCredentialsForm(assertion)));
    const result = await postToken(json, { "content-type": "application/json" });
    expectRefusal(result, {
      status: 400,
      error: "invalid_request",
      reason: "unsupported_content_type",
      description: "Content-Type must be application/x-www-form-urlencoded",
    });
    await expectNotBurnt(assertion, before);
  });

  it("rejects a form without a Content-Type", async () => {
    const request = new Request(TOKEN_ENDPOINT, { method: "POST", body: new TextEncoder().encode("grant_type=client_credentials") });
    expect(request.headers.get("content-type")).toBeNull();
    expectRefusal(await sendRawRequest(request), { status: 400, error: "invalid_request", reason: "unsupported_content_type" });
  });

  it("rejects multipart/form-data", async () => {
    const form = new FormData();
    form.set("grant_type", "client_credentials");
    const result = await sendRawRequest(new Request(TOKEN_ENDPOINT, { method: "POST", body: form }));
    expectRefusal(result, { status: 400, error: "invalid_request", reason: "unsupported_content_type" });
  });

  it("rejects a form body that is not UTF-8", async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode("grant_type=client_credentials&scope="), 0xff, 0xfe]);
    expectRefusal(await postToken(bytes), {
      status: 400,
      error: "invalid_request",
      reason: "malformed_body",
      description: "request body is not valid form encoding",
    });
  });
});

describe("parameter pollution (RFC 6749 §3.1: parameters must not be repeated)", () => {
  it("rejects a duplicated grant_type", async () => {
    const assertion = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    const body = `${clientCredentialsForm(assertion).toString()}&grant_type=${encodeURIComponent(TOKEN_EXCHANGE)}`;
    expectRefusal(await postToken(body), {
      status: 400,
      error: "invalid_request",
      reason: "duplicate_parameter",
      description: 'parameter "grant_type" must not be repeated',
    });
    await expectNotBurnt(assertion, before);
  });

  it("rejects a grant_type repeated under a percent-encoded name", async () => {
    const assertion = await assertionFor("support-bot");
    const body = `${clientCredentialsForm(assertion).toString()}&grant%5Ftype=password`;
    expectRefusal(await postToken(body), { status: 400, error: "invalid_request", reason: "duplicate_parameter" });
  });

  it("rejects two client assertions in one request, spending neither", async () => {
    const first = await assertionFor("support-bot");
    const second = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    const body = `${clientCredentialsForm(first).toString()}&client_assertion=${second}`;
    expectRefusal(await postToken(body), {
      status: 400,
      error: "invalid_request",
      reason: "duplicate_parameter",
      description: 'parameter "client_assertion" must not be repeated',
    });
    await expectNotBurnt(first, before);
    await expectNotBurnt(second, await ledgerJtis("support-bot"));
  });

  it("rejects a repeated resource with invalid_target (RFC 8707 §2: one token, one service)", async () => {
    const assertion = await assertionFor("support-bot");
    const before = await ledgerJtis("support-bot");
    const body = `${clientCredentialsForm(assertion).toString()}&resource=${encodeURIComponent("https://crm.example.com")}&resource=${encodeURIComponent("https://billing.example.com")}`;
    expectRefusal(await postToken(body), {
      status: 400,
      error: "invalid_target",
      reason: "invalid_target",
      description: 'a token names exactly one service: "resource" must not be repeated',
    });
    await expectNotBurnt(assertion, before);
  });

  it("rejects a repeated audience with invalid_target (RFC 8693 §2.1)", async () => {
    const assertion = await assertionFor("support-bot");
    const body = `${tokenExchangeForm(assertion).toString()}&audience=${encodeURIComponent("https://crm.example.com")}&audience=${encodeURIComponent("https://crm.example.com")}`;
    expectRefusal(await postToken(body), { status: 400, error: "invalid_target", reason: "invalid_target" });
  });
});
