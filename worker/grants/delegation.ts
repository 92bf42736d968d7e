import { auditEventOf, type Outcome } from "../../core/audit/outcome.ts";
import { type BudgetRule, budgetRules, tokenUnits } from "../../core/budgets/budget-rules.ts";
import { requestedGrant } from "../../core/policy/decide.ts";
import { decideDelegation } from "../../core/policy/delegation.ts";
import { fail } from "../../core/refusals.ts";
import { uuidV7 } from "../../lib/ids.ts";
import { log } from "../../lib/log.ts";
import { actorChain } from "../../schemas/access-token.ts";
import { GRANT_TYPE, TOKEN_TYPE, type TokenRequest } from "../../schemas/token-request.ts";
import { auditable } from "../audit/audit-trail.ts";
import { authenticateActor, unverifiedClaim } from "./authenticate-agent.ts";
import { verifySubjectToken } from "./delegation-subject.ts";
import { type GrantContext, type GrantOutcome, withFacts } from "./grant-context.ts";
import { chargeLedger, dpopRequirement, type Issued, type IssuingAgent, ledgerRefusal, mintToken, withDpopProof } from "./issue-token.ts";
import { requestedUseCaseId, useCaseRequest } from "./use-case-request.ts";

/**
 * A token exchange is a delegation when its subject_token is a Writ access token (RFC 8693 §3 `…:access_token`)
 * and another agent authenticates as the actor (actor_token and/or client authentication). A subject alone
 * exchanging its own access token is not supported (`unsupported_token_type`, as before).
 */
export function isDelegationRequest(request: TokenRequest): boolean {
  return (
    request.grant_type === GRANT_TYPE.tokenExchange &&
    request.subject_token_type === TOKEN_TYPE.accessToken &&
    (request.actor_token !== undefined || request.actor_token_type !== undefined || request.client_assertion !== undefined)
  );
}

/**
 * Narrow-only delegation (docs/delegation.md): authenticate the actor, verify the subject token as this broker's
 * own, decide (narrow only), sign, then charge two ledgers, which cannot share a transaction:
 *
 * 0. the ACTOR's ledger, reads only: a disabled actor, a replayed actor token or a spent actor budget is refused here,
 *    so in the ordinary case a refusal leaves both ledgers exactly as they were; and, reads only too, the ledger of
 *    every earlier actor of the subject token's chain: one switched off is refused like a disabled subject;
 * 1. the SUBJECT's ledger: refuses a disabled subject or a subject token revoked (or issued before the kill switch),
 *    or derived from one that was (every token of a chain is recorded there, with its parent), charges the
 *    subject's budgets and records the token with a hold, what it took, and its parent;
 * 2. the ACTOR's ledger: refuses a disabled actor, burns the actor's proofs (a replayed actor token is refused),
 *    charges the actor's budgets, records the token and the request's audit event;
 * 3. only if (2) REFUSED: the subject's ledger gives back exactly its hold, once. If (2) failed without an answer
 *    (an exception), nothing is given back: the subject stays charged for a token that may exist.
 *
 * So the subject's budgets are never overspent, whatever the concurrency: every delegated token is counted there
 * before it can exist. The price: a crash between the steps can leave the subject charged for a token never handed out.
 */
export async function delegationGrant(request: TokenRequest, ctx: GrantContext): Promise<GrantOutcome<Issued>> {
  const actor = await authenticateActor(request, { policy: ctx.policy, audiences: ctx.assertionAudiences, now: ctx.now });
  if (!actor.ok) return withFacts(actor, unverifiedClaim(request));
  const facts: Outcome = { agent: actor.value.agentId, use_case: requestedUseCaseId(request) };
  const requested = request.requested_token_type;
  if (requested !== undefined && requested !== TOKEN_TYPE.accessToken && requested !== TOKEN_TYPE.jwt)
    return withFacts(fail({ code: "unsupported_token_type", parameter: "requested_token_type", value: requested }), facts);
  if (request.subject_token === undefined) return withFacts(fail({ code: "missing_parameter", parameter: "subject_token" }), facts);

  const keys = await ctx.keys();
  const parent = await verifySubjectToken(request.subject_token, keys, ctx.issuer, ctx.now);
  if (!parent.ok) return withFacts(parent, facts);
  const decided = decideDelegation(ctx.policy, parent.value, actor.value.agentId, useCaseRequest(request), ctx.now);
  if (!decided.ok) return withFacts(decided, facts);
  const { grant, act } = decided.value;
  const subject = grant.agent;
  Object.assign(facts, {
    use_case: grant.useCase.id,
    audience: grant.audience,
    intent: grant.intent,
    detail: `acting for ${subject.id} (actors: ${actorChain(act).join(" < ")})`,
  });
  const bound = dpopRequirement(grant.useCase, ctx.dpop);
  if (!bound.ok) return withFacts(bound, facts);
  // Delegated requests are not sent for approval (no CIBA for an actor): a use case that needs one is refused as it is to any agent asking here.
  if (grant.needsApproval) return withFacts(fail({ code: "approval_required", useCase: grant.useCase.id }), facts);

  // Time-ordered like every issued token's id (issue-token.ts): both ledgers insert it at the end of their tables.
  const jti = uuidV7(ctx.now.getTime());
  const requestedToken = requestedGrant(grant);
  const now = ctx.now;
  const acting = withDpopProof(actor.value, ctx.dpop);
  const actorRules = budgetRules(decided.value.actor, grant.useCase);
  const actorLedger = ctx.env.AGENT_LEDGER.getByName(acting.agentId);
  const charge = { jti, useCaseId: requestedToken.useCaseId, units: tokenUnits(requestedToken.limits), expiresAt: 0, actedFor: subject.id };
  // Step 0, reads only: what the actor's ledger would refuse is refused before the subject is charged at all, and
  // so is a chain through an actor switched off since it handed the subject token on.
  const [precheck, switchedOff] = await Promise.all([
    actorLedger.precheck(proofUses(acting), charge, actorRules, now.getTime()),
    firstDisabled(ctx, actorChain(parent.value.act)),
  ]);
  if (switchedOff !== undefined)
    return withFacts(fail({ code: "agent_disabled" }), { ...facts, detail: `${facts.detail}; ${switchedOff} is switched off` });
  if (!precheck.ok) return withFacts(ledgerRefusal(precheck, acting), facts);
  const issued = await mintToken(requestedToken, ctx, { keys, tokenExchange: true, act, ...(ctx.dpop && { jkt: ctx.dpop.jkt }) }, jti, {});
  const subjectRules = budgetRules(subject, grant.useCase);
  const held = await chargeLedger(ctx, { agentId: subject.id, proofs: [] }, requestedToken, subjectRules, jti, now, undefined, {
    actor: actor.value.agentId,
    parent: { jti: decided.value.parentJti, issuedAtSeconds: parent.value.iat },
  });
  if (!held.ok) return withFacts(held, facts);

  const issuedFacts: Outcome = { ...facts, decision: "issued", token_jti: jti };
  const event = auditEventOf({ ...issuedFacts, event: ctx.audit.event }, ctx.audit.meta, 200, now.getTime());
  const checked = event && auditable(event);
  const charged = await chargeLedger(
    ctx,
    acting,
    requestedToken,
    actorRules,
    jti,
    now,
    checked?.agent === acting.agentId ? checked : undefined,
    {
      actedFor: subject.id,
    },
  );
  if (!charged.ok) {
    await releaseHold(ctx, subject.id, jti, subjectRules);
    return withFacts(charged, facts);
  }
  return withFacts(
    { ok: true, value: issued },
    { ...issuedFacts, expires_in: grant.ttlSeconds, recorded: charged.value.audited, ledger_batch: charged.value.batch },
  );
}

/** Step 3: give the subject's hold back. A failure leaves the subject charged (never the other way round), so it is logged, not thrown. */
async function releaseHold(ctx: GrantContext, subjectId: string, jti: string, rules: BudgetRule[]): Promise<void> {
  try {
    const released = await ctx.env.AGENT_LEDGER.getByName(subjectId).releaseDelegated(jti, rules, ctx.now.getTime());
    if (!released) log("warn", "delegation_hold_not_released", { agent: subjectId, token_jti: jti });
  } catch (error) {
    log("error", "delegation_hold_release_failed", { agent: subjectId, token_jti: jti, error: String(error) });
  }
}

/** The first of `agentIds` whose kill switch is on, asking their ledgers together (reads only). */
async function firstDisabled(ctx: GrantContext, agentIds: string[]): Promise<string | undefined> {
  const disabled = await Promise.all(agentIds.map((id) => ctx.env.AGENT_LEDGER.getByName(id).isDisabled()));
  return agentIds.find((_, i) => disabled[i]);
}

function proofUses(agent: IssuingAgent): { jti: string; expiresAt: number }[] {
  return agent.proofs.map(({ jti, expiresAt }) => ({ jti, expiresAt }));
}
