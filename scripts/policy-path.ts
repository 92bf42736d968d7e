import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The policy file is named once, by wrangler.toml's `[alias] "writ-policy"`; every tool reads it from there. */
export function policyPathFromWrangler(root = PROJECT_ROOT): string {
  const toml = readFileSync(resolve(root, "wrangler.toml"), "utf8");
  const match = /^"writ-policy"\s*=\s*"([^"]+)"/m.exec(toml);
  if (!match?.[1]) throw new Error('wrangler.toml has no [alias] "writ-policy" = "<policy file>"');
  return resolve(root, match[1]);
}
