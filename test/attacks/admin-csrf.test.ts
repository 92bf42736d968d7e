/**
 * CSRF against an admin behind Cloudflare Access: Access lets a browser in by a cookie, and Cloudflare then adds
 * `Cf-Access-Jwt-Assertion` to every request that browser sends to the broker, cross-site ones included. A page
 * the admin visits could so POST the kill switch, or ask for an enrolment link. A request authorised by such an
 * ambient credential may change state only when the browser says it comes from the broker's own pages
 * (Sec-Fetch-Site, else Origin). A bearer token is sent only by a caller that chose to: it needs no such check.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../worker/index.ts";
import { ISSUER } from "../support/assertions.ts";
import { waitForRecords } from "../support/audit.ts";
import { accessTeam } from "../support/cloudflare-access.ts";
import { ADMIN_BEARER } from "../support/requests.ts";

const team = await accessTeam("https://csrf-test.cloudflareaccess.com");
const ACCESS_ENV = { ...env, ACCESS_TEAM_DOMAIN: team.domain, ADMIN_ACCESS_AUD: "admin-aud", ADMIN_EMAILS: "ops@example.com" };
const AGENT = "report-bot";

/** What Cloudflare Access adds to every request of a signed-in admin's browser. */
function accessAssertion(): Promise<string> {
  return team.assertion({ email: "ops@example.com" }, "admin-aud");
}

/** A POST as the admin's browser sends it through Access, to the whole broker (its own fetch handler). */
async function browserPost(path: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
  const request = new Request(`${ISSUER}${path}`, {
    method: "POST",
    headers: {
      "cf-access-jwt-assertion": await accessAssertion(),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return worker.fetch(request, ACCESS_ENV);
}

async function killSwitchOn(): Promise<boolean> {
  return (await env.AGENT_LEDGER.getByName(AGENT).summary([], Date.now())).disabled;
}

const CROSS_SITE = {
  status: 403,
  body: {
    error: "access_denied",
    error_description: "cross-site request refused: admin actions must come from the broker's own pages or carry the bearer token",
  },
};

// The team's keys, as Cloudflare Access serves them; every other fetch goes where it was going.
beforeEach(() => {
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation((input, init) =>
    String(input instanceof Request ? input.url : input) === `${team.domain}/cdn-cgi/access/certs`
      ? Promise.resolve(Response.json(team.certs))
      : realFetch(input, init),
  );
  vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("CSRF on admin actions authorised by Cloudflare Access", () => {
  it.each<[string, Record<string, string>]>([
    ["Sec-Fetch-Site: cross-site", { "sec-fetch-site": "cross-site", origin: "https://evil.example" }],
    ["Sec-Fetch-Site: same-site (a sibling subdomain)", { "sec-fetch-site": "same-site", origin: "https://blog.writ.example.com" }],
    ["a foreign Origin from a browser without Sec-Fetch-Site", { origin: "https://evil.example" }],
  ])("refuses the kill switch posted from another site (%s), and the agent stays enabled", async (_name, headers) => {
    expect(await killSwitchOn()).toBe(false);

    const response = await browserPost(`/admin/agents/${AGENT}/disable`, headers);

    expect({ status: response.status, body: await response.json() }).toEqual(CROSS_SITE);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await killSwitchOn()).toBe(false);
    // Recorded under the admin's name: they should know their browser was used against them.
    const id = response.headers.get("x-request-id") as string;
    const [record] = await waitForRecords(1, (r) => r.request_id === id);
    expect(record).toMatchObject({ type: "admin_action", decision: "denied", reason: "cross_site_request", status: 403 });
    expect(record?.detail).toBe("admin=ops@example.com");
  });

  it("refuses an enrolment link requested from another site, and issues none", async () => {
    const response = await browserPost(
      "/admin/approvers/enrolment-links",
      { "sec-fetch-site": "cross-site", origin: "https://evil.example" },
      { email: "dana@example.com" },
    );

    expect({ status: response.status, body: await response.json() }).toEqual(CROSS_SITE);
    const id = response.headers.get("x-request-id") as string;
    const [record] = await waitForRecords(1, (r) => r.request_id === id);
    expect(record).not.toHaveProperty("approver");
    // No approver's passkey object was so much as opened, let alone given a link.
    expect(await listDurableObjectIds(env.APPROVER_PASSKEYS)).toEqual([]);
  });

  it("lets the admin's own page switch an agent off and on (Sec-Fetch-Site: same-origin)", async () => {
    const off = await browserPost(`/admin/agents/${AGENT}/disable`, { "sec-fetch-site": "same-origin", origin: ISSUER });
    expect(off.status).toBe(200);
    expect(await killSwitchOn()).toBe(true);
    const on = await browserPost(`/admin/agents/${AGENT}/enable`, { origin: ISSUER });
    expect(on.status).toBe(200);
    expect(await killSwitchOn()).toBe(false);
  });

  it("still lets an Access-authenticated browser read from anywhere: a GET changes nothing", async () => {
    const request = new Request(`${ISSUER}/admin/agents/${AGENT}`, {
      headers: { "cf-access-jwt-assertion": await accessAssertion(), "sec-fetch-site": "cross-site" },
    });
    expect((await worker.fetch(request, ACCESS_ENV)).status).toBe(200);
  });

  it("asks nothing of a bearer-token request: it carries no ambient credential", async () => {
    const headers = { ...ADMIN_BEARER, "sec-fetch-site": "cross-site", origin: "https://evil.example" };
    const off = await worker.fetch(new Request(`${ISSUER}/admin/agents/${AGENT}/disable`, { method: "POST", headers }), ACCESS_ENV);
    expect(off.status).toBe(200);
    const on = await worker.fetch(new Request(`${ISSUER}/admin/agents/${AGENT}/enable`, { method: "POST", headers }), ACCESS_ENV);
    expect(on.status).toBe(200);
    expect(await killSwitchOn()).toBe(false);
  });
});
