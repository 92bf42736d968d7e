import { describe, expect, it } from "vitest";
import { DAY_MS } from "../../lib/time.ts";
import { adminGet, type Query } from "../support/audit.ts";

/** Issue #5: the audit endpoints refuse malformed queries with `invalid_request` and every caller without admin credentials. */

const b64url = (text: string) => btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const NOW = Date.now();

const BAD_QUERIES: [string, Query][] = [
  ["from that is not a time", { from: "yesterday" }],
  ["to that is not a time", { to: "soon" }],
  ["an empty from", { from: "" }],
  ["from after to", { from: String(NOW), to: String(NOW - 1000) }],
  ["from equal to to", { from: String(NOW), to: String(NOW) }],
  ["a range of more than 93 days", { from: String(NOW - 94 * DAY_MS), to: String(NOW) }],
  ["an ISO range of more than 93 days", { from: "2026-01-01T00:00:00Z", to: "2026-04-05T00:00:00Z" }],
  ["a cursor that is not base64url", { cursor: "not a cursor!" }],
  ["a cursor that is not JSON", { cursor: b64url("i=0&s=0") }],
  ["a cursor with a negative shard index", { cursor: b64url('{"i":-1,"s":0}') }],
  ["a cursor with a fractional seq", { cursor: b64url('{"i":0,"s":1.5}') }],
  ["a cursor without its fields", { cursor: b64url("[]") }],
  ["a null cursor", { cursor: b64url("null") }],
  ["limit 0", { limit: "0" }],
  ["a negative limit", { limit: "-5" }],
  ["a limit above 1000", { limit: "1001" }],
  ["a limit that is not a number", { limit: "ten" }],
  ["a fractional limit", { limit: "2.5" }],
  ["an unknown event type", { type: "everything" }],
  ["an unknown parameter", { agnet: "billing-agent" }],
];

describe("audit queries: malformed input", () => {
  for (const path of ["/admin/audit", "/admin/audit/export"])
    it.each(BAD_QUERIES)(`${path} refuses %s with 400 invalid_request`, async (_name, query) => {
      const res = await adminGet(path, query);
      expect(res.status).toBe(400);
      const body = await res.json<{ error: string; error_description: string }>();
      expect(body.error).toBe("invalid_request");
      // A sentence naming the parameter, not a raw validation dump.
      expect(body.error_description).toMatch(/^[^{}]{1,400}$/);
      expect(body.error_description).not.toMatch(/issues|ZodError|"code"/);
    });

  it("accepts exactly 93 days, epoch milliseconds and ISO 8601 alike", async () => {
    const to = NOW;
    const queries: Query[] = [
      { agent: "billing-agent", from: String(to - 93 * DAY_MS), to: String(to) },
      { agent: "billing-agent", from: new Date(to - 93 * DAY_MS).toISOString(), to: new Date(to).toISOString() },
      { limit: "1000" },
      { limit: "1" },
    ];
    for (const query of queries) {
      const res = await adminGet("/admin/audit", query);
      expect(res.status, JSON.stringify(query)).toBe(200);
      expect(await res.json()).toMatchObject({ records: expect.any(Array) });
    }
  });

  it("answers a well-formed cursor past the end with an empty last page", async () => {
    const from = Date.now() - 3_600_000;
    const res = await adminGet("/admin/audit", { cursor: b64url(JSON.stringify({ i: 999, s: 0, from })) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ records: [], next_cursor: null });
  });
});

describe("audit queries: admin authentication", () => {
  const paths = ["/admin/audit", "/admin/audit/export", "/admin/audit/verify"];

  it.each(paths)("%s refuses a caller without a credential with 401 and a challenge", async (path) => {
    const res = await adminGet(path, {}, {});
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="writ-admin"');
    // RFC 6750 §3.1: no credential at all gets the bare challenge, with no error code and no body.
    expect(await res.text()).toBe("");
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it.each(paths)("%s refuses a wrong bearer and a service credential with 401 invalid_token", async (path) => {
    for (const authorization of ["Bearer not-the-admin-token", "Bearer dev-crm-service-secret", "Basic ZGV2LWFkbWluLXRva2Vu"]) {
      const res = await adminGet(path, {}, { authorization });
      expect(res.status, authorization).toBe(401);
    }
    const res = await adminGet(path, {}, { authorization: "Bearer not-the-admin-token" });
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="writ-admin", error="invalid_token"');
    expect(await res.json()).toMatchObject({ error: "invalid_token" });
  });

  it("checks the credential before the query: a stranger learns nothing from validation errors", async () => {
    const res = await adminGet("/admin/audit", { limit: "0", from: "garbage" }, {});
    expect(res.status).toBe(401);
  });
});
