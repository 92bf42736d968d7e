import { describe, expect, it } from "vitest";
import { clientNetwork } from "../../../core/audit/client-network.ts";

describe("clientNetwork", () => {
  it("counts an IPv4 address as its /24", () => {
    expect(clientNetwork("203.0.113.77")).toBe("203.0.113.0/24");
    expect(clientNetwork("10.0.0.1")).toBe("10.0.0.0/24");
  });

  it("counts an IPv6 address as its /48, however it is written", () => {
    expect(clientNetwork("2001:db8:7:1::9")).toBe("2001:db8:7::/48");
    expect(clientNetwork("2001:0DB8:0007:ffff:0:0:0:1")).toBe("2001:db8:7::/48");
    expect(clientNetwork("2001:db8::1")).toBe("2001:db8:0::/48");
    expect(clientNetwork("fe80::1%eth0")).toBe("fe80:0:0::/48");
    expect(clientNetwork("::")).toBe("0:0:0::/48");
  });

  it("counts an IPv4-mapped IPv6 address as its IPv4 network, in either notation", () => {
    expect(clientNetwork("::ffff:198.51.100.9")).toBe("198.51.100.0/24");
    expect(clientNetwork("::ffff:c633:6409")).toBe("198.51.100.0/24");
  });

  it("names no network for a missing or malformed address, rather than guess one", () => {
    for (const text of [
      undefined,
      "",
      "localhost",
      "256.1.1.1",
      "1.2.3",
      "1.2.3.4.5",
      "2001:db8::1::2",
      "2001:db8:1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7",
      "2001:db8::g",
      "12345::",
      "1.2.3.4::",
    ])
      expect(clientNetwork(text), String(text)).toBeUndefined();
  });
});
