import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

/** Runs scripts/node-version.mjs in a Node that says it is `version`. */
function gateAt(version: string) {
  const script = `Object.defineProperty(process, "versions", { value: { ...process.versions, node: "${version}" } });
Object.defineProperty(process, "version", { value: "v${version}" });
await import("./scripts/node-version.mjs");`;
  return spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
}

describe("the Node version gate in front of every npm script", () => {
  it.each(["20.20.2", "22.17.9", "18.0.0"])("stops Node %s with one line naming the version needed and how to get it", (version) => {
    const run = gateAt(version);
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual([expect.stringContaining(`needs Node.js 22.18 or newer (this is v${version})`)]);
    expect(run.stderr).toContain("npm install node@22");
  });

  it.each(["22.18.0", "22.23.3", "24.1.0"])("lets Node %s through silently", (version) => {
    const run = gateAt(version);
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
  });
});
