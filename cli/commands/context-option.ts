import type { RequestContext } from "../../schemas/token-request.ts";
import type { Args } from "../framework/args.ts";
import { UsageError } from "../framework/io.ts";

/**
 * `--context key=value` (repeatable, values are strings) and `--context-json '{…}'` (typed values), merged; the
 * broker's context is a flat object of strings, numbers and booleans.
 *
 * @example parseContext(parseArgs(["--context", "ticket=SUP-42"], { context: { type: "list" } })) // { ticket: "SUP-42" }
 */
export function parseContext(args: Args, extraJson?: string): RequestContext | undefined {
  const context: RequestContext = {};
  for (const json of [extraJson, args.string("context-json")]) {
    if (json === undefined) continue;
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch {
      throw new UsageError(`the context JSON ${JSON.stringify(json)} is not JSON`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value))
      throw new UsageError("the context JSON must be an object of strings, numbers and booleans");
    for (const [key, item] of Object.entries(value)) {
      if (typeof item !== "string" && typeof item !== "boolean" && !(typeof item === "number" && Number.isFinite(item)))
        throw new UsageError(`context "${key}" must be a string, a number or a boolean`);
      context[key] = item;
    }
  }
  for (const pair of args.list("context")) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UsageError(`--context ${JSON.stringify(pair)}: write key=value`);
    context[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return Object.keys(context).length > 0 ? context : undefined;
}
