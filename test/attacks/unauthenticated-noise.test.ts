/**
 * Noise as a weapon: anyone can send garbage that the broker refuses before knowing who is asking. Were each
 * refusal one durable audit record in the shared `_broker` shard, 200 requests would write 200 rows, grow storage
 * without bound and push real decisions off the admin page. They are counted instead (per minute, reason, client
 * network and claimed agent, `durable-objects/noise-counter.ts`), and the admin page shows the count.
 */
import { describe, expect, it } from "vitest";
import { MAX_COUNTERS_PER_MINUTE } from "../../durable-objects/noise-counter.ts";
import { adminPage } from "../support/admin.ts";
import { assertionFor } from "../support/assertions.ts";
import { auditAll, waitForRecords } from "../support/audit.ts";
import { signWithAttackerKey } from "../support/forgeries.ts";
import { textOf } from "../support/html.ts";
import { formPost } from "../support/http.ts";
import { withRequestLog } from "../support/logs.ts";
import { fetchFrom, freshNetworkAddress, networkOf, noiseRows, total, waitForNoise } from "../support/noise.ts";
import { ADMIN_BEARER, exchange } from "../support/requests.ts";
import { clientCredentialsForm } from "../support/token-endpoint.ts";

const INVALID_CLIENT = { error: "invalid_client", error_description: "client authentication failed" };

/** Three kinds of garbage, each refused before any agent is identified, with its exact wire answer. */
const GARBAGE: { form: () => Promise<URLSearchParams>; status: number; body: Record<string, string>; reason: string }[] = [
  { form: async () => clientCredentialsForm("not-a-jwt"), status: 401, body: INVALID_CLIENT, reason: "client_assertion_invalid:malformed" },
  {
    form: async () => clientCredentialsForm(await signWithAttackerKey("ES256", "support-bot", { kid: "support-bot-1" })),
    status: 401,
    body: INVALID_CLIENT,
    reason: "client_assertion_invalid:bad_signature",
  },
  {
    form: async () => new URLSearchParams({ grant_type: "client_credentials", scope: "crm.customers.read" }),
    status: 401,
    body: INVALID_CLIENT,
    reason: "client_authentication_missing",
  },
];

describe("unauthenticated noise", () => {
  it("counts 200 garbage token requests instead of recording them, and real decisions stay on the admin page", async () => {
    // A real decision first: an identified agent refused by the policy, recorded as ever.
    const refused = await exchange("billing-agent", { scope: "crm.customers.search" });
    expect(refused.status).toBe(400);
    const realId = refused.headers.get("x-request-id") as string;
    await waitForRecords(1, (r) => r.request_id === realId);

    // Two networks, 100 each: as much as each may fail in a minute before being refused outright.
    const networks = [freshNetworkAddress(), freshNetworkAddress()];
    const requestIds: string[] = [];
    for (let i = 0; i < 200; i++) {
      const garbage = GARBAGE[i % GARBAGE.length] as (typeof GARBAGE)[number];
      const response = await fetchFrom(networks[i % 2] as string, "/token", formPost(await garbage.form()));
      expect({ status: response.status, body: await response.json() }).toEqual({ status: garbage.status, body: garbage.body });
      expect(response.headers.get("cache-control")).toBe("no-store");
      requestIds.push(response.headers.get("x-request-id") as string);
    }

    const counted = await waitForNoise(200, (row) => networks.some((ip) => row.network === networkOf(ip)));
    expect(total(counted)).toBe(200);
    // A handful of counters (2 networks × 3 reasons, in at most two minutes) instead of 200 records.
    expect(counted.length).toBeLessThanOrEqual(12);
    for (const { reason } of GARBAGE) expect(total(counted.filter((row) => row.reason === reason))).toBeGreaterThan(60);
    const ids = new Set(requestIds);
    expect((await auditAll()).filter((record) => ids.has(record.request_id))).toEqual([]);

    const { html } = await adminPage(ADMIN_BEARER);
    expect(await textOf(html, 'tr[data-type="token_request"][data-decision="denied"]')).toMatch(
      /token request billing-agent (crm\.customers\.search|—) denied use_case_not_allowed$/,
    );
    expect(Number(await textOf(html, "#noise-day"))).toBeGreaterThanOrEqual(200);
    expect(Number(await textOf(html, "#noise-hour"))).toBeGreaterThanOrEqual(200);
    expect(await textOf(html, "#noise")).toContain("client_assertion_invalid:bad_signature");
  });

  it("names the agent a forged assertion claimed to be, unverified, in the log line and the counters", async () => {
    const ip = freshNetworkAddress();
    const forged = await signWithAttackerKey("ES256", "support-bot", { kid: "support-bot-1" });
    const { result, lines } = await withRequestLog(() => fetchFrom(ip, "/token", formPost(clientCredentialsForm(forged))));
    expect(result.status).toBe(401);
    expect(lines[0]).toMatchObject({ reason: "client_assertion_invalid", failure: "bad_signature", claimed_agent: "support-bot" });
    expect(lines[0]).not.toHaveProperty("agent");

    // Text that cannot be an agent id is not kept: it is marked as such.
    const markup = await fetchFrom(ip, "/token", formPost(clientCredentialsForm("not-a-jwt", { client_id: "<b>ghost</b>" })));
    expect(markup.status).toBe(401);
    const rows = await waitForNoise(2, (row) => row.network === networkOf(ip));
    expect(rows.map((row) => row.claimed_agent).sort()).toEqual(["(not an agent id)", "support-bot"]);
  });

  it("still records a refusal of an identified agent once, in its own shard: a replayed genuine assertion", async () => {
    const ip = freshNetworkAddress();
    const assertion = await assertionFor("support-bot");
    expect((await fetchFrom(ip, "/token", formPost(clientCredentialsForm(assertion)))).status).toBe(200);
    const replayed = await fetchFrom(ip, "/token", formPost(clientCredentialsForm(assertion)));
    expect(replayed.status).toBe(401);

    const id = replayed.headers.get("x-request-id") as string;
    const [record] = await waitForRecords(1, (r) => r.request_id === id);
    expect(record).toMatchObject({ agent: "support-bot", reason: "client_assertion_invalid", detail: "replayed" });
    expect((await noiseRows()).filter((row) => row.network === networkOf(ip))).toEqual([]);
  });

  it("counts an unknown approval link and a wrong admin token, recording neither", async () => {
    const ip = freshNetworkAddress();
    const link = await fetchFrom(ip, "/approvals/AAAAAAAAAAAAAAAAAAAAAA?t=BBBBBBBBBBBBBBBBBBBBBB");
    expect(link.status).toBe(404);
    const admin = await fetchFrom(ip, "/admin/audit", { headers: { authorization: "Bearer not-the-admin-token" } });
    expect(admin.status).toBe(401);

    const rows = await waitForNoise(2, (row) => row.network === networkOf(ip));
    expect(rows.map((row) => [row.reason, row.n]).sort()).toEqual([
      ["admin_auth:bad_token", 1],
      ["unknown_link", 1],
    ]);
    expect((await auditAll()).filter((record) => record.ip === ip)).toEqual([]);
  });

  // Last in the file: once a minute is over its cap, later tests' counts of that minute land in the overflow counter.
  it("caps the counters a flood spread over 200 networks can create: 100 a minute, then one overflow counter", async () => {
    const before = total(await noiseRows());
    for (let i = 0; i < 200; i++) {
      const response = await fetchFrom(freshNetworkAddress(), "/token", formPost(clientCredentialsForm("not-a-jwt")));
      expect(response.status).toBe(401);
    }

    const rows = await waitForNoise(before + 200, () => true);
    expect(total(rows)).toBe(before + 200);
    const perMinute = Map.groupBy(rows, (row) => row.minute);
    for (const minuteRows of perMinute.values()) expect(minuteRows.length).toBeLessThanOrEqual(MAX_COUNTERS_PER_MINUTE + 1);
    expect(rows.some((row) => row.network === "*" && row.reason === "*")).toBe(true);
  });
});
