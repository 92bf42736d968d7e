/**
 * Made-up addresses on the enrolment paths (issue 11). Each approver's passkeys live in a Durable Object named by
 * their address, so a path that looked the address up before checking it against the policy let anyone create
 * objects without bound, one per address. Every path now refuses an address that is no approver's, as it refuses
 * an unknown link, before any Durable Object is touched.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { ISSUER } from "../support/assertions.ts";
import { textOf } from "../support/html.ts";
import { jsonPost } from "../support/http.ts";
import { ADMIN_BEARER, brokerGet } from "../support/requests.ts";

/** 30 fresh addresses no policy lists, some close to a real approver's (dana@example.com); new ones for every test. */
function madeUp(): string[] {
  const tag = crypto.randomUUID().slice(0, 8);
  return Array.from(
    { length: 30 },
    (_, i) => [`mallory-${tag}-${i}@example.com`, `dana+${tag}${i}@example.com`, `Dana.${tag}${i}@Example.com`][i % 3] ?? "",
  );
}
const LINK_TOKEN = "A".repeat(43);
const UNKNOWN_LINK = { error: "unknown_link", error_description: "this enrolment link is not valid" };

/** Each test compares the passkey objects after its requests with those before them. */
let before: string[];
beforeEach(async () => {
  before = await passkeyObjects();
});

async function passkeyObjects(): Promise<string[]> {
  return (await listDurableObjectIds(env.APPROVER_PASSKEYS)).map((id) => id.toString()).sort();
}

function postEnrolment(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return exports.default.fetch(`${ISSUER}${path}`, jsonPost(body, headers));
}

/** The exact JSON refusal, never cached. */
async function expectJsonRefusal(response: Response, status: number, body: Record<string, string>): Promise<void> {
  expect({ status: response.status, body: await response.json() }).toEqual({ status, body });
  expect(response.headers.get("cache-control")).toBe("no-store");
}

describe("made-up addresses on every enrolment path", () => {
  it("answers the enrolment page as for an unknown link (404) and creates no passkey object", async () => {
    for (const email of madeUp()) {
      const response = await brokerGet(`/enrol/${encodeURIComponent(email)}`, { t: LINK_TOKEN });
      expect(response.status, email).toBe(404);
      expect(await textOf(await response.text(), "h1")).toBe("Link not recognised");
    }
    expect(await passkeyObjects()).toEqual(before);
  });

  it("answers /enrol/options as for an unknown link (404 unknown_link) and creates no passkey object", async () => {
    for (const email of madeUp())
      await expectJsonRefusal(await postEnrolment("/enrol/options", { email, t: LINK_TOKEN }), 404, UNKNOWN_LINK);
    expect(await passkeyObjects()).toEqual(before);
  });

  it("answers /enrol/complete as for an unknown link (404 unknown_link) and creates no passkey object", async () => {
    for (const email of madeUp()) {
      const response = await postEnrolment("/enrol/complete", { email, t: LINK_TOKEN, response: { id: "x" } });
      await expectJsonRefusal(response, 404, UNKNOWN_LINK);
    }
    expect(await passkeyObjects()).toEqual(before);
  });

  it("refuses an admin's enrolment link for an address that is no approver (400 naming it) and creates no passkey object", async () => {
    for (const email of madeUp()) {
      const response = await postEnrolment("/admin/approvers/enrolment-links", { email }, ADMIN_BEARER);
      await expectJsonRefusal(response, 400, {
        error: "invalid_request",
        error_description: `${email.toLowerCase()} is not an approver of any use case in the policy`,
      });
    }
    expect(await passkeyObjects()).toEqual(before);
  });

  it("still looks up a real approver's link under any spelling of the address", async () => {
    const response = await postEnrolment("/enrol/options", { email: "Dana@Example.COM", t: LINK_TOKEN });
    await expectJsonRefusal(response, 404, UNKNOWN_LINK);
    const dana = env.APPROVER_PASSKEYS.idFromName("dana@example.com").toString();
    expect(await passkeyObjects()).toEqual([...new Set([...before, dana])].sort());
  });
});
