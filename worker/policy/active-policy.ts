// The policy file is chosen at build time: wrangler.toml's [alias] maps "writ-policy" to a JSON file.
import policyDocument from "writ-policy";
import { type CompiledPolicy, compilePolicy } from "../../core/policy/compile-policy.ts";

/** Compiled once per isolate; an invalid policy throws here, so a broken deploy fails loudly at startup. */
export const activePolicy: CompiledPolicy = compilePolicy(policyDocument);
