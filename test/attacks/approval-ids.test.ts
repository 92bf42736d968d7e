/**
 * An unauthenticated attacker walks /approvals/<id> with made-up ids (issue 11, item 4). The first call on a
 * Durable Object name creates the object and its storage, so before the fix every id of 1–128 base64url characters
 * cost the broker an ApprovalRequest object (200 requests, 200 objects). Now only an id of exactly the form Writ
 * generates (22 base64url characters encoding 16 bytes) reaches a Durable Object; anything else is an unknown link.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { randomSecret } from "../../lib/crypto.ts";
import { SECURITY_HEADERS, textOf } from "../support/html.ts";
import { type RequestLogLine, withRequestLog } from "../support/logs.ts";
import { brokerGet, brokerPostForm } from "../support/requests.ts";

/** Ids the old check (`^[A-Za-z0-9_-]{1,128}$`) let through, none of them an id Writ could have generated. */
const FORGED_IDS: string[] = Array.from({ length: 50 }, (_, i) => {
  // 22 characters, but the last one carries bits that 16 bytes never set: no base64url encoding of an id ends so.
  if (i % 5 === 0) return `${randomSecret(16).slice(0, 21)}${"BCDEFHIJKLMNOPRSTUVXYZ"[i % 22]}`;
  const length = 1 + ((i * 37) % 128);
  return randomSecret(96).slice(0, length === 22 ? 23 : length);
});

/** The exact answer to a link that names no request: the unknown-link page, with every page's security headers. */
async function expectUnknownLinkPage(response: Response, label: string): Promise<void> {
  expect(response.status, label).toBe(404);
  expect(response.headers.get("content-type"), label).toBe("text/html; charset=UTF-8");
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(response.headers.get(name), `${label} ${name}`).toBe(value);
  const html = await response.text();
  expect(await textOf(html, "h1"), label).toBe("Link not recognised");
  expect(await textOf(html, "main p"), label).toBe(
    "This link does not match any request. Check that you opened the whole link from the email.",
  );
  expect(await textOf(html, "p.muted"), label).toBe("Reason: unknown_link");
}

async function approvalObjects(): Promise<DurableObjectId[]> {
  return listDurableObjectIds(env.APPROVAL_REQUEST);
}

/** None of the forged ids names an object, and no object appeared at all. */
async function expectNoObjectCreated(before: DurableObjectId[]): Promise<void> {
  const after = await approvalObjects();
  expect(after.map(String).sort()).toEqual(before.map(String).sort());
  for (const id of FORGED_IDS) {
    const named = env.APPROVAL_REQUEST.idFromName(id);
    expect(
      after.some((existing) => existing.equals(named)),
      id,
    ).toBe(false);
  }
}

describe("forged approval ids", () => {
  it("answers 50 made-up ids on the approval page with the unknown-link page and creates no Durable Object", async () => {
    const before = await approvalObjects();
    const { lines } = await withRequestLog(async () => {
      for (const id of FORGED_IDS) await expectUnknownLinkPage(await brokerGet(`/approvals/${id}`, { t: randomSecret() }), id);
    });
    expect(lines).toHaveLength(FORGED_IDS.length);
    for (const line of lines) expect(line).toMatchObject<Partial<RequestLogLine>>({ status: 404, reason: "unknown_link" });
    await expectNoObjectCreated(before);
  });

  it("answers 50 made-up ids on the decision form the same way, recording no decision and creating no Durable Object", async () => {
    const before = await approvalObjects();
    const { lines } = await withRequestLog(async () => {
      for (const id of FORGED_IDS) {
        const form = { t: randomSecret(), nonce: `${Date.now()}.${randomSecret()}`, decision: "approve" };
        await expectUnknownLinkPage(await brokerPostForm(`/approvals/${id}`, form), id);
      }
    });
    expect(lines).toHaveLength(FORGED_IDS.length);
    for (const line of lines) {
      // Nothing was decided: the asked-for "approve" is not the record's decision.
      expect(line).toMatchObject<Partial<RequestLogLine>>({ status: 404, reason: "unknown_link" });
      expect(line.decision).toBeUndefined();
      expect(line.agent).toBeUndefined();
    }
    await expectNoObjectCreated(before);
  });
});
