import { describe, expect, it } from "vitest";
import { brokerGet } from "../support/requests.ts";

describe("discovery", () => {
  it("publishes RFC 8414 metadata for the configured issuer", async () => {
    const res = await brokerGet("/.well-known/oauth-authorization-server");
    expect(res.status).toBe(200);
    const body = await res.json<Record<string, unknown>>();
    expect(body.issuer).toBe("http://localhost:8787");
    expect(body.token_endpoint).toBe("http://localhost:8787/token");
  });
});
