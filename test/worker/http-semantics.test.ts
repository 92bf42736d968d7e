import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ISSUER } from "../support/assertions.ts";
import { withRequestLog } from "../support/logs.ts";
import { brokerGet } from "../support/requests.ts";

const call = (method: string, path: string) => exports.default.fetch(`${ISSUER}${path}`, { method });

describe("HTTP semantics from the refusal funnel", () => {
  it.each(["/token", "/bc-authorize", "/introspect", "/revoke", "/usage", "/keys/report"])(
    "answers a GET on POST-only %s with 405 and Allow: POST",
    async (path) => {
      const res = await call("GET", path);
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("POST");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.json()).toEqual({ error: "invalid_request", error_description: "method not allowed: use POST" });
    },
  );

  it("answers a POST on the metadata and JWKS documents with 405 and Allow: GET, HEAD", async () => {
    for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/jwks.json"]) {
      const res = await call("POST", path);
      expect(res.status, path).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD");
    }
  });

  it("answers an unknown path with a JSON 404 that no cache keeps", async () => {
    const res = await brokerGet("/no-such-endpoint");
    expect(res.status).toBe(404);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({ error: "not_found", error_description: "no such endpoint" });
  });

  it("answers an admin request for an unknown agent with no-store too", async () => {
    const res = await brokerGet("/admin/agents/ghost", {}, { authorization: "Bearer dev-admin-token" });
    expect(res.status).toBe(404);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({ error: "not_found", error_description: "unknown agent" });
  });

  it("advertises no unregistered auth method names for introspection and revocation (RFC 8414 §2)", async () => {
    const metadata = await (await brokerGet("/.well-known/oauth-authorization-server")).json<Record<string, unknown>>();
    expect(metadata).not.toHaveProperty("introspection_endpoint_auth_methods_supported");
    expect(metadata).not.toHaveProperty("revocation_endpoint_auth_methods_supported");
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(["private_key_jwt", "none"]);
  });

  it("names the request in X-Request-Id on every refusal, so an admin can find its record", async () => {
    const res = await exports.default.fetch(`${ISSUER}/token`, { method: "POST", headers: { "cf-ray": "8f1e2d3c4b5a6978-AMS" } });
    expect(res.status).toBe(400);
    expect(res.headers.get("x-request-id")).toBe("8f1e2d3c4b5a6978-AMS");
    const anonymous = await call("GET", "/no-such-endpoint");
    expect(anonymous.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  /**
   * Log and header injection through the request id: a client that reaches the Worker without Cloudflare's edge in
   * front (or Cloudflare itself, for all the broker knows) chooses CF-Ray. The id is echoed in every log line,
   * audit record and X-Request-Id, so only a well-formed id of at most 64 letters, digits and dashes is taken.
   */
  it.each<[string, string]>([
    ["10 kB of letters", "a".repeat(10_240)],
    ["quotes, spaces and markup", '8f1e2d3c4b5a6978-AMS", "admin": "token'],
    ["a tab and a semicolon", "8f1e2d3c4b5a6978-AMS;\tforged=1"],
    ["non-ASCII letters", "8f1e2d3c4b5a6978-ÄMS"],
    ["nothing at all", ""],
  ])("takes no request id from a CF-Ray holding %s: a fresh one instead, in the log line and X-Request-Id", async (_name, ray) => {
    const { result, lines } = await withRequestLog(() =>
      exports.default.fetch(`${ISSUER}/no-such-endpoint`, { headers: { "cf-ray": ray } }),
    );
    const id = result.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(lines[0]?.request_id).toBe(id);
  });
});
