import { MINUTE_MS } from "../../lib/time.ts";
import type { AuditEventType } from "../../schemas/audit.ts";
import type { ApprovalProblem, ReasonCode } from "../refusals.ts";
import type { Outcome } from "./outcome.ts";

/**
 * Unauthenticated noise: requests refused before anyone was identified. Anyone on the internet can send them at
 * will, so they are counted (per minute, reason, client network and claimed agent) rather than recorded one durable
 * audit record each: a flood of garbage must neither grow storage without bound nor push real decisions off the
 * admin page. Authenticated and agent-attributable refusals stay one audit record each.
 */

/** Where a request from no known network (no client address: a service binding, a test) is counted. */
export const UNKNOWN_NETWORK = "unknown";

type Code = ReasonCode | ApprovalProblem;
/** The refusal a network gets once it has failed too often: noise whatever the request was. */
const LIMITED: Code = "too_many_failures";
/** The services' credential check (/introspect, /revoke, /usage). */
const SERVICE_UNAUTHENTICATED: ReadonlySet<Code> = new Set<Code>(["invalid_client", "usage_service_required"]);
/** A link or id nobody was given: the approval pages' and passkey enrolment's only unauthenticated failures. */
const UNKNOWN_LINK: ReadonlySet<Code> = new Set<Code>(["unknown_link", "not_found", "enrolment_link_unknown", "enrolment_request_invalid"]);

type Unauthenticated = (outcome: Outcome) => boolean;
const never: Unauthenticated = () => false;
/** Token endpoints: refused before the agent was identified. A replayed assertion carries a genuine signature. */
const beforeAgent: Unauthenticated = (o) => o.agent === undefined && o.failure !== "replayed";
const beforeAdmin: Unauthenticated = (o) => o.admin === undefined;
const unknownLink: Unauthenticated = (o) => o.admin === undefined && UNKNOWN_LINK.has(o.reason as Code);

/**
 * Per audit event, which refusals come before any identity is established. Every event type must say (the
 * compiler refuses a new event type missing here), so no endpoint becomes a way to write one record per request.
 */
const UNAUTHENTICATED: Record<AuditEventType, Unauthenticated> = {
  token_request: beforeAgent,
  ciba_request: beforeAgent,
  ciba_poll: beforeAgent,
  introspection: (o) => SERVICE_UNAUTHENTICATED.has(o.reason as Code),
  revocation: (o) => SERVICE_UNAUTHENTICATED.has(o.reason as Code),
  usage_report: (o) => SERVICE_UNAUTHENTICATED.has(o.reason as Code),
  // Under /admin nothing is decided before adminAuth has established the admin: a wrong token, an unknown path.
  admin_action: beforeAdmin,
  admin_auth_failure: beforeAdmin,
  approval_view: unknownLink,
  approval_decision: unknownLink,
  passkey_enrolment: unknownLink,
  approval_email: never,
  // Recorded only once the report's signature verified (a forged report writes nothing durable at all).
  key_report: never,
};

/**
 * Whether a request was an unauthenticated failure: refused before any identity was established. Such a
 * request is counted, not recorded, and counts against its network's failure limit.
 *
 * @example isUnauthenticatedFailure({ event: "token_request", reason: "client_assertion_invalid", failure: "bad_signature" }) // true
 */
export function isUnauthenticatedFailure(outcome: Outcome): boolean {
  if (outcome.reason === undefined) return false;
  if (outcome.reason === LIMITED) return true;
  return outcome.event !== undefined && UNAUTHENTICATED[outcome.event](outcome);
}

/** One counter increment: `count` failures of one reason from one network in the minute starting at `minute` (epoch ms). */
export type NoiseCount = { minute: number; reason: string; network: string; claimedAgent: string; count: number };

/**
 * The count a request adds, or undefined when it was no unauthenticated failure. Pure: `ts` is passed in.
 * The reason carries the check that failed (`client_assertion_invalid:bad_signature`); the claimed agent is what
 * the request said about itself, unverified (empty when it said nothing).
 */
export function noiseOf(outcome: Outcome, network: string | undefined, ts: number): NoiseCount | undefined {
  if (!isUnauthenticatedFailure(outcome)) return undefined;
  const reason = outcome.failure === undefined ? (outcome.reason as string) : `${outcome.reason}:${outcome.failure}`;
  return {
    minute: Math.floor(ts / MINUTE_MS) * MINUTE_MS,
    reason: reason.slice(0, 128),
    network: network ?? UNKNOWN_NETWORK,
    claimedAgent: outcome.claimed_agent?.slice(0, 128) ?? "",
    count: 1,
  };
}

/** The reason, network and claimed agent of a minute's overflow counter (NoiseCounter caps the distinct ones per minute). */
export const OVERFLOW = "*";

/** How often each value occurred, most frequent first. */
export type Top = { key: string; count: number }[];
/** Unauthenticated failures over a span of time: how many, and the most frequent reasons, networks and claimed agents. */
export type NoiseTally = { total: number; reasons: Top; networks: Top; claimedAgents: Top };

export const EMPTY_TALLY: NoiseTally = { total: 0, reasons: [], networks: [], claimedAgents: [] };

/**
 * Several spans' tallies (one per day counter) as one, keeping the `limit` most frequent of each kind. Exact
 * while each input lists every value it counted; otherwise a value just below an input's cut may be missing.
 */
export function mergeTallies(tallies: readonly NoiseTally[], limit: number): NoiseTally {
  return {
    total: tallies.reduce((sum, t) => sum + t.total, 0),
    reasons: mergeTop(
      tallies.map((t) => t.reasons),
      limit,
    ),
    networks: mergeTop(
      tallies.map((t) => t.networks),
      limit,
    ),
    claimedAgents: mergeTop(
      tallies.map((t) => t.claimedAgents),
      limit,
    ),
  };
}

function mergeTop(lists: readonly Top[], limit: number): Top {
  const sums = new Map<string, number>();
  for (const { key, count } of lists.flat()) sums.set(key, (sums.get(key) ?? 0) + count);
  return [...sums]
    .map(([key, count]) => ({ key, count }))
    .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1))
    .slice(0, limit);
}
