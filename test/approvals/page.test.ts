import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashSecret } from "../../lib/crypto.ts";
import { type OpenedApproval, openApproval, pagePath, stored } from "../support/approval-fixture.ts";
import { approverApp, call, postForm } from "../support/approver-app.ts";
import { attributesOf, formOf, SECURITY_HEADERS, textOf } from "../support/html.ts";

const app = approverApp();

async function openPage(opened: OpenedApproval, approver: string): Promise<{ response: Response; html: string }> {
  const response = await call(app, pagePath(opened, approver));
  return { response, html: await response.text() };
}

async function decideThroughPage(opened: OpenedApproval, approver: string, decision: "approve" | "deny"): Promise<Response> {
  const { html } = await openPage(opened, approver);
  const form = await formOf(html, decision === "approve" ? "approve-form" : "deny-form");
  return postForm(app, `/approvals/${opened.approvalId}`, form);
}

function expectSecurityHeaders(response: Response): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(response.headers.get(name), name).toBe(value);
}

describe("approval page (GET)", () => {
  it("shows everything an approver needs to judge the request", async () => {
    const opened = await openApproval({
      settings: { quorum: 2, groups: { finance: { members: ["ann@example.com", "ben@example.com"], min: 1 } } },
      meta: { bindingMessage: "BLUE-42" },
    });
    const { response, html } = await openPage(opened, "ann@example.com");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await textOf(html, "#agent-name")).toBe("Billing agent");
    expect(await textOf(html, "#use-case")).toBe("billing.invoices.refund");
    expect(await textOf(html, "#use-case-description")).toBe("Refund an invoice");
    expect(await textOf(html, "#binding-message")).toContain("BLUE-42");
    expect(await textOf(html, "#intent")).toBe("Refund invoice 42 after the customer's complaint");
    expect(await textOf(html, "#agent")).toBe("Billing agent billing-agent");
    expect(await textOf(html, "#owner")).toBe("bob@example.com");
    expect(await textOf(html, "#service")).toBe("https://billing.example.com");
    expect(await textOf(html, "#actions")).toBe("read refund");
    expect(await textOf(html, "#locations")).toBe("https://billing.example.com/invoices");
    expect(await textOf(html, "#limits")).toBe("max_refund_cents = 50000 currency = EUR");
    expect(await textOf(html, "#context")).toBe("ticket = SUP-1234");
    expect(await textOf(html, "#ttl")).toBe("5 minutes");
    expect(await textOf(html, "#requested")).toBe(
      `by billing-agent at ${new Date(opened.now).toISOString().slice(0, 16).replace("T", " ")} UTC`,
    );
    expect(await textOf(html, "#expires")).toMatch(/UTC \((14|15) minutes left\)$/);
    expect(await textOf(html, "#request-hash")).toBe(opened.requestHash);
    expect(await textOf(html, "#quorum")).toBe("Needs 2 approvals (0 so far). Any deny ends the request.");
    expect(await textOf(html, ".group")).toBe("Group finance: at least 1 of ann@example.com, ben@example.com");
    expect(await textOf(html, ".approvers")).toBe("ann@example.com (you): waiting ben@example.com: waiting");
    const approve = await formOf(html, "approve-form");
    expect(approve).toEqual({ t: opened.links["ann@example.com"], nonce: expect.stringMatching(/^\d+\.[\w-]+$/), decision: "approve" });
    expect((await formOf(html, "deny-form")).decision).toBe("deny");
    expect(await attributesOf(html, "form", "method")).toEqual(["post", "post"]);
    expect(await attributesOf(html, "form", "action")).toEqual([`/approvals/${opened.approvalId}`, `/approvals/${opened.approvalId}`]);
  });

  it("carries no inline script or style and nothing that submits itself", async () => {
    const { html } = await openPage(await openApproval(), "ann@example.com");
    expect(await attributesOf(html, "script", "src")).toEqual(["/assets/approval.js"]);
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=|javascript:|http-equiv/i);
    expect(await attributesOf(html, 'link[rel="stylesheet"]', "href")).toEqual(["/assets/approval.css"]);
  });

  it("escapes markup in the agent-supplied intent and context", async () => {
    const payload = `<script>alert(1)</script>"><img src=x onerror=alert(2)>`;
    const opened = await openApproval({ grant: { intent: payload, context: { note: payload } }, meta: { bindingMessage: payload } });
    const { html } = await openPage(opened, "ann@example.com");
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).not.toContain("<img src=x");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(await textOf(html, "#intent")).toBe(payload);
    expect(await textOf(html, "#context")).toBe(`note = ${payload}`);
  });

  it("never changes state: two views, then the first view's form still decides", async () => {
    const opened = await openApproval();
    const first = await openPage(opened, "ann@example.com");
    const second = await openPage(opened, "ann@example.com");
    expect(second.response.status).toBe(200);
    expect(await stored(opened)).toEqual({ status: "pending", decisions: [], usedLinks: 0 });
    const response = await postForm(app, `/approvals/${opened.approvalId}`, await formOf(first.html, "approve-form"));
    expect(response.status).toBe(200);
    expect((await stored(opened)).status).toBe("approved");
  });

  it("shows other approvers' decisions", async () => {
    const opened = await openApproval({ settings: { quorum: 2 } });
    expect((await decideThroughPage(opened, "ann@example.com", "approve")).status).toBe(200);
    const { html } = await openPage(opened, "ben@example.com");
    expect(await textOf(html, "#quorum")).toBe("Needs 2 approvals (1 so far). Any deny ends the request.");
    expect(await textOf(html, ".approvers li")).toMatch(/^ann@example\.com: approved at .+ UTC \(link\)$/);
  });

  it("answers a tampered link token or unknown request with 404", async () => {
    const opened = await openApproval();
    const token = opened.links["ann@example.com"] ?? "";
    const tampered = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    for (const path of [
      `/approvals/${opened.approvalId}?t=${tampered}`,
      `/approvals/${opened.approvalId}`,
      `/approvals/apr_does_not_exist?t=${token}`,
      `/approvals/${opened.approvalId}?t=%3Cscript%3E`,
    ]) {
      const response = await call(app, path);
      expect(response.status, path).toBe(404);
      expect(await textOf(await response.text(), "h1")).toBe("Link not recognised");
    }
    expect((await stored(opened)).status).toBe("pending");
  });

  it("explains expired and cancelled requests with 410", async () => {
    const expired = await openApproval({ now: Date.now() - 16 * 60 * 1000 });
    const response = await call(app, pagePath(expired, "ann@example.com"));
    expect(response.status).toBe(410);
    expect(await textOf(await response.text(), "h1")).toBe("Request expired");

    const cancelled = await openApproval();
    await cancelled.stub.cancel(Date.now());
    const page = await call(app, pagePath(cancelled, "ann@example.com"));
    expect(page.status).toBe(410);
    expect(await textOf(await page.text(), "h1")).toBe("Request cancelled");
  });
});

describe("decision (POST)", () => {
  it("approves with a link-only policy and tells the ledger the request is closed", async () => {
    const agentId = `agent-${crypto.randomUUID()}`;
    const opened = await openApproval({ grant: { agentId } });
    const ledger = env.AGENT_LEDGER.getByName(agentId);
    const reservation = { requestHash: opened.requestHash, approvalId: opened.approvalId, authReqId: "x", expiresAt: opened.now + 900_000 };
    expect(await ledger.reserveApproval([], reservation, 5, opened.now)).toEqual({ kind: "reserved" });
    const response = await decideThroughPage(opened, "ann@example.com", "approve");
    expect(response.status).toBe(200);
    expect(await textOf(await response.text(), "h1")).toBe("Approved");
    expectSecurityHeaders(response);
    expect(await stored(opened)).toEqual({
      status: "approved",
      decisions: [{ approver: "ann@example.com", decision: "approve", auth_method: "link" }],
      usedLinks: 1,
    });
    // afterDecision ran: the identical request no longer deduplicates onto the decided one.
    expect(await ledger.reserveApproval([], { ...reservation, approvalId: "next", authReqId: "y" }, 5, opened.now)).toEqual({
      kind: "reserved",
    });
  });

  it("denies, and the other approvers' links then say the request is decided", async () => {
    const opened = await openApproval({ settings: { quorum: 2 } });
    const response = await decideThroughPage(opened, "ben@example.com", "deny");
    expect(response.status).toBe(200);
    expect(await textOf(await response.text(), "h1")).toBe("Denied");
    expect((await stored(opened)).status).toBe("denied");
    const other = await call(app, pagePath(opened, "ann@example.com"));
    expect(other.status).toBe(410);
    expect(await textOf(await other.text(), "h1")).toBe("Already decided");
  });

  it("records one decision for a double click: the second POST gets 410", async () => {
    const opened = await openApproval({ settings: { quorum: 2 } });
    const { html } = await openPage(opened, "ann@example.com");
    const form = await formOf(html, "approve-form");
    const first = await postForm(app, `/approvals/${opened.approvalId}`, form);
    const second = await postForm(app, `/approvals/${opened.approvalId}`, form);
    expect(first.status).toBe(200);
    expect(await textOf(await first.text(), "h1")).toBe("Approval recorded");
    expect(second.status).toBe(410);
    expect(await textOf(await second.text(), "h1")).toBe("Link already used");
    expect((await stored(opened)).decisions).toHaveLength(1);
  });

  it("refuses a tampered, foreign or expired nonce with 400 and records nothing", async () => {
    const opened = await openApproval();
    const { html } = await openPage(opened, "ann@example.com");
    const form = await formOf(html, "approve-form");
    const nonce = form.nonce ?? "";
    const [viewedAt, mac = ""] = nonce.split(".");
    const otherView = await openPage(opened, "ben@example.com");
    const bensNonce = (await formOf(otherView.html, "approve-form")).nonce ?? "";
    const tokenHash = await hashSecret(opened.links["ann@example.com"] ?? "");
    const stale = await opened.stub.view(tokenHash, Date.now() - 11 * 60 * 1000);
    if (!stale.ok) throw new Error("view failed");
    for (const bad of [`${viewedAt}.${mac.slice(0, -2)}AA`, `${Number(viewedAt) - 1}.${mac}`, bensNonce, stale.nonce, "", "not-a-nonce"]) {
      const response = await postForm(app, `/approvals/${opened.approvalId}`, { ...form, nonce: bad });
      expect(response.status, bad).toBe(400);
      expect(await textOf(await response.text(), "h1")).toBe("This page is out of date");
    }
    expect(await stored(opened)).toEqual({ status: "pending", decisions: [], usedLinks: 0 });
  });

  it("refuses a tampered link token with 404", async () => {
    const opened = await openApproval();
    const form = await formOf((await openPage(opened, "ann@example.com")).html, "approve-form");
    const response = await postForm(app, `/approvals/${opened.approvalId}`, { ...form, t: `${form.t?.slice(0, -2)}zz` });
    expect(response.status).toBe(404);
    expect((await stored(opened)).decisions).toEqual([]);
  });

  it("bars the agent's owner from approving (403) but lets others decide", async () => {
    const opened = await openApproval();
    const response = await decideThroughPage(opened, "bob@example.com", "approve");
    expect(response.status).toBe(403);
    expect(await textOf(await response.text(), "h1")).toBe("Not allowed: you own this agent");
    expect(await stored(opened)).toEqual({ status: "pending", decisions: [], usedLinks: 0 });
    expect((await decideThroughPage(opened, "ann@example.com", "approve")).status).toBe(200);
  });

  it("refuses an approve without the step-up the use case requires (403), while a deny needs none", async () => {
    const opened = await openApproval({ settings: { approver_auth: ["passkey"], link_only: false } });
    const { html } = await openPage(opened, "ann@example.com");
    expect(await textOf(html, "#approve-unavailable")).toContain("No passkey is enrolled for ann@example.com");
    const denyForm = await formOf(html, "deny-form");
    const response = await postForm(app, `/approvals/${opened.approvalId}`, { ...denyForm, decision: "approve" });
    expect(response.status).toBe(403);
    expect(await textOf(await response.text(), "h1")).toBe("Stronger sign-in needed");
    expect(await stored(opened)).toEqual({ status: "pending", decisions: [], usedLinks: 0 });
    const deny = await postForm(app, `/approvals/${opened.approvalId}`, denyForm);
    expect(deny.status).toBe(200);
    expect(await stored(opened)).toEqual({
      status: "denied",
      decisions: [{ approver: "ann@example.com", decision: "deny", auth_method: "link" }],
      usedLinks: 1,
    });
  });

  it("reaches a quorum of 2 through two approvers' links", async () => {
    const opened = await openApproval({ settings: { quorum: 2 } });
    const first = await decideThroughPage(opened, "ann@example.com", "approve");
    expect(await textOf(await first.text(), "h1")).toBe("Approval recorded");
    expect((await stored(opened)).status).toBe("pending");
    const second = await decideThroughPage(opened, "ben@example.com", "approve");
    expect(await textOf(await second.text(), "h1")).toBe("Approved");
    expect((await stored(opened)).status).toBe("approved");
    expect((await stored(opened)).decisions.map((d) => d.approver)).toEqual(["ann@example.com", "ben@example.com"]);
  });

  it("lets concurrent approve and deny end in exactly one final state", async () => {
    for (let round = 0; round < 5; round++) {
      const opened = await openApproval();
      const ann = await formOf((await openPage(opened, "ann@example.com")).html, "approve-form");
      const ben = await formOf((await openPage(opened, "ben@example.com")).html, "deny-form");
      const responses = await Promise.all([
        postForm(app, `/approvals/${opened.approvalId}`, ann),
        postForm(app, `/approvals/${opened.approvalId}`, ben),
      ]);
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 410]);
      const state = await stored(opened);
      expect(state.decisions).toHaveLength(1);
      expect(state.status).toBe(state.decisions[0]?.decision === "approve" ? "approved" : "denied");
    }
  });

  it("lets the same link's concurrent approve and deny record only one", async () => {
    const opened = await openApproval();
    const { html } = await openPage(opened, "ann@example.com");
    const approve = await formOf(html, "approve-form");
    const deny = await formOf(html, "deny-form");
    const responses = await Promise.all([
      postForm(app, `/approvals/${opened.approvalId}`, approve),
      postForm(app, `/approvals/${opened.approvalId}`, deny),
    ]);
    expect(responses.map((r) => r.status).sort()).toEqual([200, 410]);
    expect((await stored(opened)).decisions).toHaveLength(1);
  });

  it("answers oversized, malformed or incomplete bodies with a 400 page", async () => {
    const opened = await openApproval();
    const form = await formOf((await openPage(opened, "ann@example.com")).html, "approve-form");
    const path = `/approvals/${opened.approvalId}`;
    const cases: [string, RequestInit][] = [
      [
        "oversized",
        {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: `${new URLSearchParams(form)}&pad=${"x".repeat(20_000)}`,
        },
      ],
      ["json", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(form) }],
      [
        "duplicate",
        {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: `${new URLSearchParams(form)}&decision=deny`,
        },
      ],
      [
        "bad utf-8",
        {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new Uint8Array([0x74, 0x3d, 0xff, 0xfe]),
        },
      ],
      [
        "no decision",
        {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ t: form.t ?? "", nonce: form.nonce ?? "" }),
        },
      ],
    ];
    for (const [name, init] of cases) {
      const response = await call(app, path, init);
      expect(response.status, name).toBe(400);
      expect(response.headers.get("content-type"), name).toMatch(/^text\/html/);
      expect(await textOf(await response.text(), "h1"), name).toBe("Bad request");
      expectSecurityHeaders(response);
    }
    expect(await stored(opened)).toEqual({ status: "pending", decisions: [], usedLinks: 0 });
  });
});

describe("security headers", () => {
  it("are on the page, its result and every problem page", async () => {
    const opened = await openApproval();
    const responses = [
      (await openPage(opened, "ann@example.com")).response,
      await call(app, `/approvals/${opened.approvalId}?t=unknown-token-unknown-token`),
      await call(app, `/approvals/nope`),
      await postForm(app, `/approvals/${opened.approvalId}`, {}),
      await decideThroughPage(opened, "ann@example.com", "approve"),
      await call(app, pagePath(opened, "ann@example.com")),
    ];
    for (const response of responses) expectSecurityHeaders(response);
  });

  it("stay on the approver routes: the broker's other endpoints are untouched", async () => {
    const broker = approverApp();
    broker.get("/.well-known/jwks.json", (c) => c.json({ keys: [] }));
    broker.post("/admin/agents/x/disable", (c) => c.json({ ok: true }));
    const jwks = await call(broker, "/.well-known/jwks.json");
    expect(jwks.headers.get("content-security-policy")).toBeNull();
    expect(jwks.headers.get("cache-control")).toBeNull();
    // Admin auth guards only the enrolment-link endpoint it was mounted for.
    expect((await call(broker, "/admin/agents/x/disable", { method: "POST" })).status).toBe(200);
  });

  it("serve the page assets with their types, nosniff and a cache lifetime", async () => {
    const css = await call(app, "/assets/approval.css");
    const js = await call(app, "/assets/approval.js");
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    for (const response of [css, js]) {
      expect(response.status).toBe(200);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("cache-control")).toBe("public, max-age=3600");
    }
    const script = await js.text();
    expect(script).toContain("navigator.credentials.get");
    expect(script).toContain("navigator.credentials.create");
    // The script acts on a click only: it never calls submit() outside the passkey callback.
    expect(script.match(/\.submit\(\)/g)).toHaveLength(1);
  });
});
