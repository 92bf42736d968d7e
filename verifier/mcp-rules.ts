import { AGENT_USE_CASE_TYPE } from "../schemas/authorization-details.ts";
import type { WritGrant } from "./create-verifier.ts";
import { misuse, requiredScopes } from "./options.ts";

/**
 * A check of one tool argument against the token. By default only arguments the call carries are checked: a tool
 * that has a default for a missing one must keep that default within the grant itself (the example clamps to
 * `max_rows`), or declare the argument `required: true`, which refuses a call without it.
 *
 * @example
 * const limit: McpArgumentRule = { atMost: "max_rows" }; // `limit` ≤ the token's limits.max_rows
 * const table: McpArgumentRule = { within: "locations", prefix: "https://crm.example.com/tables/", required: true };
 */
export type McpArgumentRule = McpArgumentCheck & {
  /** Refuse a call that leaves the argument out (default false: it is checked only when present). */
  required?: boolean;
};

export type McpArgumentCheck =
  /** A whole number from 0 to the token's numeric limit of that name. A token without that limit passes nothing. */
  | { atMost: string }
  /** A string that, after `prefix`, is one of the token's `locations`. */
  | { within: "locations"; prefix?: string };

/**
 * What one tool needs from a token: its use case (any one of several), the action it performs, and its arguments' rules.
 *
 * @example
 * const rule: McpToolRule = { useCase: "customers.query", action: "read", arguments: { limit: { atMost: "max_rows" } } };
 */
export type McpToolRule = {
  /** The use case(s) whose tokens may call the tool. The first is the one a step-up challenge asks for. */
  useCase: string | readonly string[];
  /** An action the token's `authorization_details` must list (tokens can be narrowed to fewer actions). */
  action?: string;
  arguments?: Readonly<Record<string, McpArgumentRule>>;
  /**
   * Makes the tool metered (needs the `usage` option): the units one successful call consumed, read from its result,
   * reported to the broker's `POST /usage`. The broker takes one report per token, so a token pays for one metered call.
   */
  units?: (result: McpToolResult) => Record<string, number>;
  /**
   * The tool declares an MCP `outputSchema`. Its denials then carry the denial in `_meta["writ/denial"]` and the text
   * only: MCP clients (the official SDK among them) validate any `structuredContent` against the tool's schema.
   */
  outputSchema?: boolean;
};

/** A `tools/call` result as the MCP server sent it (MCP `CallToolResult`, loosely typed). */
export type McpToolResult = {
  content?: unknown[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  [field: string]: unknown;
};

/**
 * A refused tool call the agent can act on. `error` is `insufficient_authorization_details` (the RAR error-signaling
 * draft's code) when a token with other `authorization_details` would pass, `access_denied` when none would.
 * `authorization_details` is what a token must carry for this very call (RFC 9396 shape, ready to send to the broker);
 * `retry_with` is the closest call the agent's current token allows.
 *
 * @example
 * { "error": "insufficient_authorization_details", "error_description": "argument limit is 500, over the token's max_rows (50)",
 *   "tool": "query_customers", "rule": { "argument": "limit", "check": "at_most", "limit": "max_rows", "granted": 50, "value": 500 },
 *   "authorization_details": [{ "type": "agent_use_case", "use_case": "customers.query", "actions": ["read"], "locations": [], "limits": { "max_rows": 500 } }],
 *   "retry_with": { "arguments": { "limit": 50 } } }
 */
export type McpDenial = {
  error: "insufficient_authorization_details" | "access_denied";
  error_description: string;
  tool: string;
  rule: McpDeniedRule;
  authorization_details?: McpAuthorizationDetail[];
  retry_with?: { arguments: Record<string, unknown> };
};

export type McpDeniedRule =
  | { check: "declared" }
  | { check: "required"; argument: string }
  | { check: "at_most"; argument: string; limit: string; granted: number | null; value: unknown }
  | { check: "within_locations"; argument: string; location: string | null; granted: string[]; value: unknown };

export type McpAuthorizationDetail = {
  type: typeof AGENT_USE_CASE_TYPE;
  use_case: string;
  actions: string[];
  locations: string[];
  limits: Record<string, number | string | boolean>;
};

/** A tool's rule after the factory checked it once. */
export type ResolvedToolRule = {
  useCases: readonly string[];
  action: string | undefined;
  arguments: ReadonlyArray<readonly [string, McpArgumentRule]>;
  units: McpToolRule["units"];
  /** Whether a denial may go in `structuredContent` (not when the tool declares an `outputSchema`). */
  structuredDenials: boolean;
};

/** What the middleware does with one `tools/call`. */
export type ToolDecision =
  | { kind: "allow"; rule: ResolvedToolRule }
  /** The token's use case (or its narrowed actions) does not cover the tool: MCP step-up, 403 `insufficient_scope`. */
  | { kind: "step_up"; useCases: readonly string[] }
  | { kind: "deny"; denial: McpDenial };

/** Checks the declarations once, at creation: a typo in a rule must fail at startup, not wave calls through. */
export function resolveToolRules(tools: Readonly<Record<string, McpToolRule>>): ReadonlyMap<string, ResolvedToolRule> {
  if (typeof tools !== "object" || tools === null || Object.keys(tools).length === 0)
    throw misuse("tools must name at least one tool and the use case it needs");
  const resolved = new Map<string, ResolvedToolRule>();
  for (const [name, rule] of Object.entries(tools)) {
    if (typeof rule !== "object" || rule === null) throw misuse(`tool ${name}: the rule must be an object`);
    const useCases = requiredScopes(rule.useCase, `tool ${name} useCase`);
    if (rule.action !== undefined && (typeof rule.action !== "string" || rule.action.length === 0))
      throw misuse(`tool ${name}: action must be a non-empty string`);
    if (rule.units !== undefined && typeof rule.units !== "function") throw misuse(`tool ${name}: units must be a function`);
    const args = Object.entries(rule.arguments ?? {});
    for (const [argument, check] of args) checkArgumentRule(name, argument, check);
    if (rule.outputSchema !== undefined && typeof rule.outputSchema !== "boolean")
      throw misuse(`tool ${name}: outputSchema must be a boolean`);
    resolved.set(name, {
      useCases,
      action: rule.action,
      arguments: args,
      units: rule.units,
      structuredDenials: rule.outputSchema !== true,
    });
  }
  return resolved;
}

function checkArgumentRule(tool: string, argument: string, rule: McpArgumentRule): void {
  if (typeof rule !== "object" || rule === null) throw misuse(`tool ${tool} argument ${argument}: the rule must be an object`);
  if (rule.required !== undefined && typeof rule.required !== "boolean")
    throw misuse(`tool ${tool} argument ${argument}: required must be a boolean`);
  if ("atMost" in rule) {
    if (typeof rule.atMost !== "string" || rule.atMost.length === 0)
      throw misuse(`tool ${tool} argument ${argument}: atMost must name a limit, e.g. "max_rows"`);
    return;
  }
  if ("within" in rule && rule.within === "locations") {
    if (rule.prefix !== undefined && typeof rule.prefix !== "string")
      throw misuse(`tool ${tool} argument ${argument}: prefix must be a string`);
    return;
  }
  throw misuse(`tool ${tool} argument ${argument}: use { atMost: "<limit>" } or { within: "locations" }`);
}

/** Whether a token of this grant could ever call the tool (for `tools/list` filtering): use case and action only. */
export function toolUsable(rule: ResolvedToolRule, grant: WritGrant): boolean {
  return rule.useCases.includes(grant.useCase) && (rule.action === undefined || grant.actions.includes(rule.action));
}

/** Pure: one `tools/call` against one grant. Use case first, then action, then each argument in declaration order. */
export function decideToolCall(
  rules: ReadonlyMap<string, ResolvedToolRule>,
  tool: string,
  args: Record<string, unknown>,
  grant: WritGrant,
): ToolDecision {
  const rule = rules.get(tool);
  // Fail closed: a tool without a declaration has no rule that could allow it.
  if (rule === undefined)
    return {
      kind: "deny",
      denial: {
        error: "access_denied",
        error_description: `tool ${tool} declares no Writ use case, so no token can call it`,
        tool,
        rule: { check: "declared" },
      },
    };
  if (!toolUsable(rule, grant)) return { kind: "step_up", useCases: rule.useCases };
  for (const [argument, check] of rule.arguments) {
    let denial: McpDenial | undefined;
    // Own properties only: `"toString" in args` is true for every object.
    if (!Object.hasOwn(args, argument)) denial = check.required === true ? missing(tool, argument, check, args, grant) : undefined;
    else if ("atMost" in check) denial = checkAtMost(tool, argument, check.atMost, args, grant);
    else denial = checkWithin(tool, argument, check, args, grant);
    if (denial !== undefined) return { kind: "deny", denial };
  }
  return { kind: "allow", rule };
}

function checkAtMost(
  tool: string,
  argument: string,
  limit: string,
  args: Record<string, unknown>,
  grant: WritGrant,
): McpDenial | undefined {
  const value = args[argument];
  const granted = grant.limits[limit];
  const grantedNumber = typeof granted === "number" ? granted : null;
  // A whole number from 0: a negative or fractional one is no count of anything (SQLite reads `LIMIT -1` as no limit).
  const count = typeof value === "number" && Number.isInteger(value) && value >= 0;
  if (count && grantedNumber !== null && value <= grantedNumber) return undefined;
  const rule = { check: "at_most" as const, argument, limit, granted: grantedNumber, value };
  // A missing limit must not read as "unlimited"; a value that is no count cannot be compared: neither has a remedy.
  if (grantedNumber === null)
    return {
      error: "access_denied",
      error_description: `the token carries no numeric ${limit} limit to check ${argument} against`,
      tool,
      rule,
    };
  if (!count)
    return {
      error: "access_denied",
      error_description: `argument ${argument} must be a whole number from 0 (checked against ${limit})`,
      tool,
      rule,
    };
  return {
    error: "insufficient_authorization_details",
    error_description: `argument ${argument} is ${value}, over the token's ${limit} (${grantedNumber})`,
    tool,
    rule,
    authorization_details: [needed(grant, { limits: { ...grant.limits, [limit]: value } })],
    retry_with: { arguments: { ...args, [argument]: grantedNumber } },
  };
}

function checkWithin(
  tool: string,
  argument: string,
  check: { within: "locations"; prefix?: string },
  args: Record<string, unknown>,
  grant: WritGrant,
): McpDenial | undefined {
  const value = args[argument];
  const location = typeof value === "string" ? `${check.prefix ?? ""}${value}` : null;
  if (location !== null && grant.locations.includes(location)) return undefined;
  const rule = { check: "within_locations" as const, argument, location, granted: [...grant.locations], value };
  if (location === null)
    return { error: "access_denied", error_description: `argument ${argument} must be a string (checked against locations)`, tool, rule };
  const allowed = firstLocation(grant, check.prefix ?? "");
  const denial: McpDenial = {
    error: "insufficient_authorization_details",
    error_description: `argument ${argument} names ${location}, which is not among the token's locations`,
    tool,
    rule,
    authorization_details: [needed(grant, { locations: [location] })],
  };
  // The first location this token does cover, when the argument can name one.
  if (allowed !== undefined) denial.retry_with = { arguments: { ...args, [argument]: allowed } };
  return denial;
}

/** A required argument the call left out: no token lets that call through, the call with the argument may pass. */
function missing(tool: string, argument: string, check: McpArgumentRule, args: Record<string, unknown>, grant: WritGrant): McpDenial {
  const denial: McpDenial = {
    error: "access_denied",
    error_description: `argument ${argument} is required`,
    tool,
    rule: { check: "required", argument },
  };
  // The argument at the most the token allows: its limit, or the first of its locations the argument can name.
  const granted = "atMost" in check ? grant.limits[check.atMost] : firstLocation(grant, check.prefix ?? "");
  if (typeof granted === "number" || ("within" in check && typeof granted === "string"))
    denial.retry_with = { arguments: { ...args, [argument]: granted } };
  return denial;
}

/** The first of the token's locations an argument can name (after `prefix`), as the argument. */
function firstLocation(grant: WritGrant, prefix: string): string | undefined {
  return grant.locations.find((l) => l.startsWith(prefix))?.slice(prefix.length);
}

/** The `authorization_details` entry a token must carry for the call: the grant's own, changed where the call needs more. */
function needed(grant: WritGrant, change: Partial<Pick<McpAuthorizationDetail, "locations" | "limits">>): McpAuthorizationDetail {
  return {
    type: AGENT_USE_CASE_TYPE,
    use_case: grant.useCase,
    actions: [...grant.actions],
    locations: change.locations ?? [...grant.locations],
    limits: change.limits ?? { ...grant.limits },
  };
}
