/**
 * Which policy file `npm start`, `npm run build`/`deploy` and `npm test` use (scripts/policy-path.ts, the one place
 * that decides): `--policy`, else WRIT_POLICY, else wrangler.toml's alias; and the guard against a `wrangler` run
 * directly with WRIT_POLICY set, which would check one file and bundle another.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  POLICY_ALIASED_ENV,
  PolicyPathError,
  policyPathFromWrangler,
  resolvePolicyPath,
  takeOption,
  wranglerPolicyArgs,
} from "../../scripts/policy-path.ts";

const folder = mkdtempSync(join(tmpdir(), "writ-policy-path-"));
const mine = join(folder, "mine.policy.json");
const theirs = join(folder, "theirs.policy.json");
writeFileSync(mine, "{}");
writeFileSync(theirs, "{}");
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe("resolvePolicyPath", () => {
  it("defaults to the file wrangler.toml's alias names", () => {
    expect(resolvePolicyPath({ env: {} })).toEqual({ path: policyPathFromWrangler(), source: "wrangler.toml" });
    expect(resolvePolicyPath({ env: { WRIT_POLICY: "" } }).source).toBe("wrangler.toml");
  });

  it("takes WRIT_POLICY, relative to the working directory", () => {
    expect(resolvePolicyPath({ env: { WRIT_POLICY: "mine.policy.json" }, cwd: folder })).toEqual({ path: mine, source: "WRIT_POLICY" });
  });

  it("takes --policy over WRIT_POLICY", () => {
    expect(resolvePolicyPath({ flag: theirs, env: { WRIT_POLICY: mine } })).toEqual({ path: theirs, source: "--policy" });
  });

  it("refuses a file that does not exist, naming where its name came from", () => {
    expect(() => resolvePolicyPath({ env: { WRIT_POLICY: join(folder, "nope.json") } })).toThrow(
      new PolicyPathError(`policy file not found: ${join(folder, "nope.json")} (from WRIT_POLICY)`),
    );
  });

  it("refuses WRIT_POLICY inside wrangler's [build] step unless the script that started wrangler aliased that file", () => {
    const inBuild = { WRANGLER_COMMAND: "deploy", WRIT_POLICY: mine };
    expect(() => resolvePolicyPath({ env: inBuild })).toThrow(/wrangler was started directly/);
    expect(() => resolvePolicyPath({ env: { ...inBuild, [POLICY_ALIASED_ENV]: theirs } })).toThrow(PolicyPathError);
    expect(resolvePolicyPath({ env: { ...inBuild, ...wranglerPolicyArgs(mine).env } }).path).toBe(mine);
    // Without WRIT_POLICY, wrangler checks and bundles the same file: its own alias.
    expect(resolvePolicyPath({ env: { WRANGLER_COMMAND: "deploy" } }).source).toBe("wrangler.toml");
  });
});

describe("wranglerPolicyArgs", () => {
  it("aliases the module the worker imports, in wrangler's module:path form", () => {
    expect(wranglerPolicyArgs(mine).args).toEqual(["--alias", `writ-policy:${mine}`]);
  });
});

describe("takeOption", () => {
  it("takes --name value and --name=value, and leaves the rest for wrangler", () => {
    expect(takeOption(["--port", "9000", "--local"], "port")).toEqual({ value: "9000", rest: ["--local"] });
    expect(takeOption(["--inspector-port", "1", "--port=9001"], "port")).toEqual({ value: "9001", rest: ["--inspector-port", "1"] });
    expect(takeOption(["--local"], "port")).toEqual({ value: undefined, rest: ["--local"] });
  });

  it("refuses a flag without its value", () => {
    expect(() => takeOption(["--policy"], "policy")).toThrow(new PolicyPathError("--policy needs a value"));
    expect(() => takeOption(["--policy", "--port", "1"], "policy")).toThrow(PolicyPathError);
  });
});
