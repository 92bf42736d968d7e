import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { DEV_OUTBOX_MAX_MESSAGES, DEV_OUTBOX_NAME, type OutboxMail, type OutboxMailInput } from "../../durable-objects/dev-outbox.ts";
import type { AppEnv } from "../../worker/app-env.ts";
import { composeApprovalEmail, sendApprovalEmail } from "../../worker/approvals/approval-email.ts";
import type { WritEnv } from "../../worker/env.ts";
import { devOutboxRoutes } from "../../worker/routes/dev-outbox.ts";
import { emailInput } from "../support/approval-email.ts";

const BASE = "http://127.0.0.1:8787";
// Storage is shared by the tests of a file: DO tests take outboxes of their own, route tests unique recipients.
const freshOutbox = () => env.DEV_OUTBOX_STORE.getByName(crypto.randomUUID());
const brokerOutbox = () => env.DEV_OUTBOX_STORE.getByName(DEV_OUTBOX_NAME);
const app = new Hono<AppEnv>().route("/dev", devOutboxRoutes());

function mail(overrides: Partial<OutboxMailInput> = {}): OutboxMailInput {
  const approvalId = `apr_${crypto.randomUUID()}`;
  return {
    to: "alice@example.com",
    subject: "Approve? Support bot → crm.customers.export",
    text: "text part",
    html: "<p>html part</p>",
    link: `${BASE}/approvals/${approvalId}?t=secret`,
    approvalId,
    sentAt: 1_800_000_000_000,
    ...overrides,
  };
}

describe("DevOutbox", () => {
  it("returns recorded mail newest first", async () => {
    const outbox = freshOutbox();
    const first = await outbox.record(mail({ subject: "first" }));
    const second = await outbox.record(mail({ subject: "second" }));
    expect(second.id).toBeGreaterThan(first.id);
    expect((await outbox.list(10)).map((m) => m.subject)).toEqual(["second", "first"]);
  });

  it("finds the latest mail for an approver, optionally for one request", async () => {
    const outbox = freshOutbox();
    const older = await outbox.record(mail({ to: "bob@example.com" }));
    const newer = await outbox.record(mail({ to: "bob@example.com" }));
    await outbox.record(mail({ to: "carol@example.com" }));
    expect(await outbox.latestFor("bob@example.com")).toEqual(newer);
    expect(await outbox.latestFor("bob@example.com", older.approvalId)).toEqual(older);
  });

  it("answers null when nothing was sent to that approver or for that request", async () => {
    const outbox = freshOutbox();
    const sent = await outbox.record(mail({ to: "bob@example.com" }));
    expect(await outbox.latestFor("nobody@example.com")).toBeNull();
    expect(await outbox.latestFor("bob@example.com", "apr_other")).toBeNull();
    expect(await outbox.latestFor("nobody@example.com", sent.approvalId)).toBeNull();
  });

  it(`keeps only the newest ${DEV_OUTBOX_MAX_MESSAGES} messages, pruning as it records`, async () => {
    const outbox = freshOutbox();
    const total = DEV_OUTBOX_MAX_MESSAGES + 5;
    for (let i = 0; i < total; i++) await outbox.record(mail({ subject: `#${i}` }));
    const kept = await outbox.list(1000);
    expect(kept).toHaveLength(DEV_OUTBOX_MAX_MESSAGES);
    expect(kept[0]?.subject).toBe(`#${total - 1}`);
    expect(kept.at(-1)?.subject).toBe("#5");
    const rows = await runInDurableObject(outbox, (_instance, state) => state.storage.sql.exec("SELECT COUNT(*) AS n FROM mail").one().n);
    expect(rows).toBe(DEV_OUTBOX_MAX_MESSAGES);
  });

  it("clamps the list limit to between one and the maximum kept", async () => {
    const outbox = freshOutbox();
    for (let i = 0; i < 3; i++) await outbox.record(mail());
    expect(await outbox.list(0)).toHaveLength(1);
    expect(await outbox.list(-5)).toHaveLength(1);
    expect(await outbox.list(2)).toHaveLength(2);
    expect(await outbox.list(Number.NaN)).toHaveLength(1);
  });

  it("keeps its mail across eviction", async () => {
    const outbox = freshOutbox();
    const sent = await outbox.record(mail({ to: "dave@example.com" }));
    await evictDurableObject(outbox);
    expect(await outbox.latestFor("dave@example.com")).toEqual(sent);
  });
});

describe("GET /dev/outbox.json", () => {
  it("lists the approval mail the broker sent, filtered by approver and request", async () => {
    const input = emailInput();
    await sendApprovalEmail(env, composeApprovalEmail(input));
    const other = emailInput({ to: input.to });
    await sendApprovalEmail(env, composeApprovalEmail(other));

    const response = await app.request(`${BASE}/dev/outbox.json?to=${encodeURIComponent(input.to)}`, {}, env);
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    const { mails } = await response.json<{ mails: OutboxMail[] }>();
    expect(mails.map((m) => m.approvalId)).toEqual([other.approvalId, input.approvalId]);
    expect(mails[1]).toMatchObject({ to: input.to, link: input.link, subject: "Approve? Support bot → crm.customers.export" });

    const one = await app.request(`${BASE}/dev/outbox.json?to=${encodeURIComponent(input.to)}&approval_id=${input.approvalId}`, {}, env);
    expect((await one.json<{ mails: OutboxMail[] }>()).mails.map((m) => m.link)).toEqual([input.link]);
  });

  it("honours a limit", async () => {
    const to = `erin.${crypto.randomUUID()}@example.com`;
    for (let i = 0; i < 3; i++) await brokerOutbox().record(mail({ to }));
    const response = await app.request(`${BASE}/dev/outbox.json?to=${encodeURIComponent(to)}&limit=2`, {}, env);
    expect((await response.json<{ mails: OutboxMail[] }>()).mails).toHaveLength(2);
  });
});

describe("the broker", () => {
  it("serves the outbox at /dev in local development", async () => {
    const to = `ivan.${crypto.randomUUID()}@example.com`;
    const sent = await brokerOutbox().record(mail({ to }));
    const response = await exports.default.fetch(`${BASE}/dev/outbox.json?to=${encodeURIComponent(to)}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ mails: [sent] });
  });
});

describe("GET /dev/outbox", () => {
  it("shows recipient, subject, time and a clickable link for each mail", async () => {
    const to = `frank.${crypto.randomUUID()}@example.com`;
    const sent = await brokerOutbox().record(mail({ to, link: `${BASE}/approvals/apr_1?t=abc&x=1` }));
    const response = await app.request(`${BASE}/dev/outbox?to=${encodeURIComponent(to)}`, {}, env);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/html/);
    const page = await response.text();
    expect(page).toContain(`<dd>${to}</dd>`);
    expect(page).toContain("Approve? Support bot → crm.customers.export");
    expect(page).toContain(new Date(sent.sentAt).toISOString());
    expect(page).toContain(`<a href="${BASE}/approvals/apr_1?t=abc&amp;x=1" rel="noreferrer">`);
  });

  it("escapes agent-influenced subject and text", async () => {
    const to = `grace.${crypto.randomUUID()}@example.com`;
    await brokerOutbox().record(mail({ to, subject: `<script>alert(1)</script>`, text: `"><img src=x onerror=alert(2)>` }));
    const page = await (await app.request(`${BASE}/dev/outbox?to=${encodeURIComponent(to)}`, {}, env)).text();
    expect(page).not.toMatch(/<script|<img/i);
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(page).toContain("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;");
  });

  it("says so when no mail was sent yet", async () => {
    const page = await (await app.request(`${BASE}/dev/outbox?to=nobody.${crypto.randomUUID()}@example.com`, {}, env)).text();
    expect(page).toContain("No approval mail yet.");
  });

  it("is locked down like the approval pages: no inline code, no framing, no caching, no Referer", async () => {
    const response = await app.request(`${BASE}/dev/outbox`, {}, env);
    const csp = response.headers.get("Content-Security-Policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(response.headers.get("Referrer-Policy")).toBe("no-referrer");
    expect(await response.text()).not.toMatch(/<script|<style| style=/);
  });
});

describe("/dev/outbox outside local development", () => {
  it('answers 404 on both paths unless DEV_OUTBOX is "true"', async () => {
    const to = `heidi.${crypto.randomUUID()}@example.com`;
    await brokerOutbox().record(mail({ to }));
    for (const DEV_OUTBOX of [undefined, "false"]) {
      const production = { ...env, DEV_OUTBOX } as WritEnv;
      for (const path of ["/dev/outbox", "/dev/outbox.json", `/dev/outbox.json?to=${encodeURIComponent(to)}`]) {
        const response = await app.request(`${BASE}${path}`, {}, production);
        expect(response.status, `${path} with DEV_OUTBOX=${DEV_OUTBOX}`).toBe(404);
        expect(response.headers.get("Content-Security-Policy")).toBeNull();
        expect(await response.text()).not.toContain(to);
      }
    }
  });

  it("answers like an unknown endpoint of the app it is mounted in", async () => {
    const broker = new Hono<AppEnv>().route("/dev", devOutboxRoutes());
    broker.notFound((c) => c.json({ error: "not_found", error_description: "no such endpoint" }, 404));
    const production = { ...env, DEV_OUTBOX: undefined } as WritEnv;
    const unknown = await broker.request(`${BASE}/no-such-path`, {}, production);
    const outbox = await broker.request(`${BASE}/dev/outbox.json`, {}, production);
    expect(outbox.status).toBe(404);
    expect(await outbox.json()).toEqual(await unknown.json());
  });
});
