import { readFileSync } from "node:fs";
import type { JWK } from "jose";
import { devWorkloadIssuerProblems } from "../../core/identity/federation-dev-issuer.ts";
import { type CompiledPolicy, PolicyError } from "../../core/policy/compile-policy.ts";
import { insecureJwksUris } from "../../schemas/trusted-issuer.ts";
import { PolicyPathError, resolvePolicyPath } from "../../scripts/policy-path.ts";
import { demoAgentKeys } from "../broker/settings.ts";
import type { Args } from "../framework/args.ts";
import type { Command, Group } from "../framework/command.ts";
import { Failure, type Io, messageOf, UsageError } from "../framework/io.ts";
import { checkPolicy } from "../policy/check-policy.ts";
import { demoKeyProblems } from "../policy/demo-keys.ts";
import { type Explanation, explain, type Step } from "../policy/explain.ts";
import { parseContext } from "./context-option.ts";

/** The file named on the command line, else the one the broker bundles (`WRIT_POLICY`, else wrangler.toml's alias). */
function policyPath(given: string | undefined): string {
  if (given !== undefined) return given;
  try {
    return resolvePolicyPath().path;
  } catch (error) {
    if (error instanceof PolicyPathError) throw new Failure(error.message);
    throw new UsageError(`name the policy file: ${messageOf(error)}`);
  }
}

function readPolicy(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Failure(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Failure(`${path} is not JSON: ${messageOf(error)}`);
  }
}

/** Compiles and proves the policy, or throws a `Failure` listing each problem at its field. */
async function checkedPolicy(path: string): Promise<CompiledPolicy> {
  try {
    return await checkPolicy(readPolicy(path));
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    throw new Failure(`${path}: ${count(error.problems.length, "problem")}`, problemLines(error.problems));
  }
}

function problemLines(problems: readonly string[]): string[] {
  return problems.map((p) => `  - ${p}`);
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

export const policyCheck: Command = {
  name: "check",
  summary: "validate a policy and name each bad field; refuses the demo agents' keys unless allowed",
  usage: "writ policy check [policy.json] [--allow-demo-keys]",
  help: `
Checks everything the broker checks when it loads the policy (the schema, every cross-reference, the structural
ReDoS check of context patterns), proves each context pattern matches in linear time, and refuses any agent key
whose private half is published in policy/demo-agent-keys.json: anyone could sign as that agent. This is the check
that runs before every \`wrangler deploy\` ([build] command), so a broken or demo policy never ships.

Arguments:
  policy.json          default: $WRIT_POLICY, else the file wrangler.toml's [alias] "writ-policy" names

Options:
  --allow-demo-keys    accept the demo keys (local development only); so does WRIT_ALLOW_DEMO_KEYS=1

Exit codes: 0 the policy is fine, 1 it is not (one line per problem, starting at the field), 2 wrong command line.

Example:
  writ policy check policy/my.policy.json`,
  options: { "allow-demo-keys": { type: "boolean" } },
  async run(args: Args, io: Io) {
    const [given] = args.expect(["policy.json"], 0);
    const path = policyPath(given);
    const policy = await checkedPolicy(path);
    const allowDemo = args.flag("allow-demo-keys") || io.env.WRIT_ALLOW_DEMO_KEYS === "1";
    const demo = await demoKeyProblems(policy.document, demoAgentKeys() as Record<string, JWK>);
    if (demo.length > 0 && !allowDemo)
      throw new Failure(`${path}: ${count(demo.length, "demo key")} registered (their private keys are in policy/demo-agent-keys.json)`, [
        ...problemLines(demo),
        "fix: give each agent a key of its own (writ agent add <agent id>) and remove the demo key;",
        "     for local development only, pass --allow-demo-keys or set WRIT_ALLOW_DEMO_KEYS=1",
      ]);
    // Trusting the dev workload issuer (its private key is published) or fetching an issuer's keys over plain http
    // (swappable on the way) is as unsafe as a demo key: allowed for local development only (docs/workload-identity.md).
    const devTrust = [...devWorkloadIssuerProblems(policy.document.trusted_issuers), ...insecureJwksUris(policy.document.trusted_issuers)];
    if (devTrust.length > 0 && !allowDemo)
      throw new Failure(`${path}: trusts workload issuers only fit for local development`, [
        ...problemLines(devTrust),
        "fix: trust your platform's real issuer over https (docs/workload-identity.md);",
        "     for local development only, pass --allow-demo-keys or set WRIT_ALLOW_DEMO_KEYS=1",
      ]);
    io.out(`${io.colour.ok("policy ok")}: ${path}: ${count(policy.agents.size, "agent")}, ${count(policy.useCases.size, "use case")}`);
    if (demo.length > 0)
      io.err(io.errColour.warn(`warning: ${count(demo.length, "demo key")} allowed for local development: never deploy this policy`));
    return 0;
  },
};

export const policyExplain: Command = {
  name: "explain",
  summary: "dry-run the token decision for an agent and a use case, rule by rule, and say what would pass",
  usage:
    "writ policy explain <agent> <use-case> [policy.json] [--context key=value …] [--intent text] [--resource url]\n" +
    "                        [--action a …] [--location l …] [--at ISO-time]",
  help: `
Runs the broker's own decision (core/policy/decide.ts) on the policy file, without a broker, and lists each rule
it checks: the agent, the use case, the audience, actions and locations, time windows, each context condition,
the intent, whether a human must approve, and the budgets (spent at run time, so only listed). When the request
would be denied, each failed rule says what would pass: a narrower request, a context value, an intent, a time.

Arguments:
  agent, use-case      as in the policy
  policy.json          default: $WRIT_POLICY, else the file wrangler.toml's [alias] "writ-policy" names

Options:
  --context key=value  a context fact the agent would send (repeatable); --context-json '{"k":"v"}' for typed values
  --intent text        what the agent says it is about to do
  --resource url       the service (audience) asked for; default: the use case's first audience
  --action a           narrow to these actions (repeatable)
  --location l         narrow to these locations (repeatable)
  --at time            decide as of this ISO 8601 time (default: now), for time windows

Exit codes: 0 the request would be granted (possibly after approval), 1 it would be denied, 2 wrong command line.

Example:
  writ policy explain support-bot crm.customers.export --context ticket=SUP-42 --intent "export for the audit"`,
  options: {
    context: { type: "list" },
    "context-json": { type: "string" },
    intent: { type: "string" },
    resource: { type: "string" },
    action: { type: "list" },
    location: { type: "list" },
    at: { type: "string" },
  },
  async run(args: Args, io: Io) {
    const [agentId, useCaseId, given] = args.expect(["agent", "use-case", "policy.json"], 2) as [string, string, string | undefined];
    const at = args.string("at") === undefined ? new Date() : new Date(args.string("at") as string);
    if (Number.isNaN(at.getTime())) throw new UsageError(`--at ${JSON.stringify(args.string("at"))} is not an ISO 8601 time`);
    const context = parseContext(args);
    const path = policyPath(given);
    const policy = await checkedPolicy(path);
    const explanation = explain(policy, {
      agentId,
      useCaseId,
      intent: args.string("intent"),
      context,
      resource: args.string("resource"),
      actions: args.has("action") ? args.list("action") : undefined,
      locations: args.has("location") ? args.list("location") : undefined,
      at,
    });
    io.out(`${io.colour.bold(`${agentId} → ${useCaseId}`)}  (policy ${path}, at ${at.toISOString()})`);
    for (const step of explanation.steps) io.out(stepLine(step, io));
    io.out(verdictLine(explanation, io));
    return explanation.verdict.allowed ? 0 : 1;
  },
};

const MARK: Record<Step["outcome"], string> = { pass: "✓", fail: "✗", note: "·" };

function stepLine(step: Step, io: Io): string {
  const paint = step.outcome === "pass" ? io.colour.ok : step.outcome === "fail" ? io.colour.bad : io.colour.dim;
  const fix = step.fix === undefined ? "" : `\n      ${step.outcome === "fail" ? "to pass: " : ""}${step.fix}`;
  return `  ${paint(MARK[step.outcome])} ${step.rule}: ${step.detail}${fix}`;
}

function verdictLine({ verdict }: Explanation, io: Io): string {
  if (verdict.allowed)
    return verdict.needsApproval
      ? `${io.colour.warn("granted after approval")}: the broker would start a human approval (see "approval" above)`
      : `${io.colour.ok("granted")}: the broker would issue a token (if budgets and the kill switch allow)`;
  const { reason } = verdict;
  const detail = Object.entries(reason)
    .filter(([key]) => key !== "code")
    .map(([key, value]) => `${key} ${JSON.stringify(value)}`)
    .join(", ");
  return `${io.colour.bad("denied")}: ${reason.code}${detail ? ` (${detail})` : ""}`;
}

export const policyGroup: Group = {
  name: "policy",
  summary: "Check a policy file, and dry-run its decisions.",
  commands: [policyCheck, policyExplain],
};
