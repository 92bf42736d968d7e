import type { Context } from "hono";
import { verifyKeyReport } from "../../core/identity/key-report.ts";
import { epochSeconds } from "../../lib/time.ts";
import { KEY_REPORT_PATH, KeyReportFormSchema } from "../../schemas/key-report.ts";
import { switchOff } from "../agents/kill-switch.ts";
import type { AppEnv } from "../app-env.ts";
import { tellOwner } from "../approvals/quarantine-email.ts";
import { note } from "../audit/note.ts";
import { parseFormRequest } from "../http/parse-form-request.ts";
import { refuse } from "../http/refuse.ts";
import { configOf, nowOf } from "../http/request-context.ts";
import { activePolicy } from "../policy/active-policy.ts";

/** Burnt report ids live in the agent's replay guard beside assertion ids; the prefix keeps the two apart. */
const REPORT_JTI_PREFIX = "key-report:";

/**
 * POST /keys/report: whoever finds an agent's private key (a secret scanner, say) reports it by signing a report
 * with it (`report=<jwt>`, schemas/key-report.ts). A valid report quarantines the agent at once, through the kill
 * switch: no new tokens, every earlier token inactive at /introspect, open and approved requests cancelled; one
 * audit record in the agent's chain and a mail to its owner.
 *
 * Every report gets the same answer, 202 `{"status":"received"}`: genuine, forged, for an unknown agent or key,
 * expired, of the wrong type, or replayed. So the endpoint tells nobody which agents and keys are registered, and a
 * forged report changes nothing and writes nothing durable (the log line names what failed). Only a body that is
 * not a form with one `report` parameter is refused (400, or 413 over the size cap): that depends on nothing registered.
 *
 * A report is idempotent: its `jti` is burnt in the agent's replay guard before anything happens, so a replayed
 * report quarantines, mails and records nothing new.
 */
export async function keyReportRoute(c: Context<AppEnv>): Promise<Response> {
  const form = await parseFormRequest(c.req.raw, KeyReportFormSchema);
  if (!form.ok) return refuse(c, form.reason);
  const config = configOf(c);
  const now = nowOf(c);
  const report = await verifyKeyReport(form.value.report, { policy: activePolicy, audience: `${config.issuer}${KEY_REPORT_PATH}`, now });
  if (!report.ok) {
    // The detail may echo attacker-chosen text (a sub or kid): bounded so it cannot bloat the log.
    note(c, { reason: "key_report_unverified", failure: report.failure, detail: report.detail?.slice(0, 128) });
    return received(c);
  }
  const { agentId, kid, jti, expiresAt } = report.value;
  const proof = { jti: `${REPORT_JTI_PREFIX}${jti}`, expiresAt };
  const admitted = await c.env.AGENT_LEDGER.getByName(agentId).admit([proof], epochSeconds(now.getTime()));
  if (!admitted.ok) {
    note(c, { agent: agentId, reason: "key_report_replayed" });
    return received(c);
  }

  const { cancelled } = await switchOff(c.env, agentId, now.getTime(), "key_leaked");
  // Named here, not in app.ts: only a verified report is a security event; forged ones would be unbounded noise.
  note(c, { event: "key_report", agent: agentId, decision: "quarantined", detail: `kid ${kid}`.slice(0, 128) });
  const agent = activePolicy.agents.get(agentId);
  const emailed =
    agent?.owner !== undefined &&
    (await tellOwner(c.env, {
      from: config.approvalFrom,
      to: agent.owner,
      agentId,
      agentName: agent.name,
      kid,
      cancelled,
      issuer: config.issuer,
      requestId: c.get("requestId"),
      at: now.getTime(),
    }));
  note(c, { emails_sent: emailed ? 1 : 0 });
  return received(c);
}

/** The one answer to every report that reached the verifier (RFC 9110 §15.3.3: accepted for processing, no result promised). */
function received(c: Context<AppEnv>): Response {
  return c.json({ status: "received" }, 202, { "Cache-Control": "no-store" });
}
