import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ISSUER } from "../support/assertions.ts";
import { brokerGet } from "../support/requests.ts";

const call = (method: string, path: string) => exports.default.fetch(`${ISSUER}${path}`, { method });

describe("HTTP semantics from the refusal funnel", () => {
  it.each(["/token", "/bc-authorize", "/introspect", "/revoke", "/usage"])(
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
});
