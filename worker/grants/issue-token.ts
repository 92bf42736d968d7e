import { auditEventOf, type Outcome } from "../../core/audit/outcome.ts";
import { type BudgetRule, tokenUnits } from "../../core/budgets/budget-rules.ts";
import { assertNever, fail, type Reason, type Result } from "../../core/refusals.ts";
import { accessTokenClaims } from "../../core/tokens/access-token-claims.ts";
import type { IssueCall, IssueResult, ParentToken, ProofUse } from "../../durable-objects/agent-ledger.ts";
import { uuidV7 } from "../../lib/ids.ts";
import type { ActClaim, ApprovalClaim } from "../../schemas/access-token.ts";
import type { RequestedGrant } from "../../schemas/approval.ts";
import type { AuditEvent } from "../../schemas/audit.ts";
import { TOKEN_TYPE } from "../../schemas/token-request.ts";
import { auditable } from "../audit/audit-trail.ts";
import { signAccessToken } from "../tokens/access-token.ts";
import type { ActiveKeys } from "../tokens/signing-keys.ts";
import type { AuthenticatedAgent, ProofSource } from "./authenticate-agent.ts";
import { type GrantContext, type GrantOutcome, withFacts } from "./grant-context.ts";
import { issueInLedger } from "./ledger-issue.ts";

/** The agent a token is issued to and the proofs its ledger burns with it: identity proofs and the DPoP proof, if any. */
export type IssuingAgent = {
  agentId: string;
  proofs: (ProofUse & { source: ProofSource | "dpop_proof" })[];
  /** Set when the agent authenticated with a workload token: the token says so (`agent_auth`). */
  federated?: AuthenticatedAgent["federated"];
};

export type TokenResponse = {
  access_token: string;
  /** RFC 9449 §5: "DPoP" for a token bound to the request's DPoP key. */
  token_type: "Bearer" | "DPoP";
  expires_in: number;
  scope: string;
  issued_token_type?: string;
  authorization_details: unknown[];
};

export type Issued = { response: TokenResponse; jti: string };
/**
 * `jkt`: the thumbprint of the DPoP key the token is bound to (`cnf.jkt`, RFC 9449 §6.1). `act`: the actor chain of a
 * delegated token (RFC 8693 §4.1, docs/delegation.md).
 */
export type Minting = { keys: ActiveKeys; tokenExchange: boolean; approval?: ApprovalClaim; jkt?: string; act?: ActClaim };

/**
 * The signature, then one Durable Object round trip: the agent's ledger atomically refuses a disabled agent,
 * burns the proofs (a replayed assertion never yields a second token), charges every budget and records the
 * request's audit event. Signing first means that record describes a token that exists; a refused token is
 * dropped unseen.
 */
export async function issueToken(
  ctx: GrantContext,
  agent: IssuingAgent,
  grant: RequestedGrant,
  rules: BudgetRule[],
  facts: Outcome,
  minting: Minting,
): Promise<GrantOutcome<Issued>> {
  // Time-ordered: the ledger keys the agent's tokens by jti, so each insert lands at the end of its table (issue #15).
  const jti = uuidV7(ctx.now.getTime());
  const issued = await mintToken(grant, ctx, minting, jti, agent);
  const issuedFacts: Outcome = { ...facts, decision: "issued", token_jti: jti };
  const event = auditEventOf({ ...issuedFacts, event: ctx.audit.event }, ctx.audit.meta, 200, ctx.now.getTime());
  const checked = event && auditable(event);
  // The ledger forwards to its own agent's shards only: each shard then has one ledger (one seq space) feeding it.
  const ledgerEvent = checked?.agent === agent.agentId ? checked : undefined;
  const charged = await chargeLedger(ctx, agent, grant, rules, jti, ctx.now, ledgerEvent);
  if (!charged.ok) return withFacts(charged, facts);
  // Only the ledger's word counts: an object still running older code would ignore the event and say nothing.
  return withFacts(
    { ok: true, value: issued },
    { ...issuedFacts, expires_in: grant.ttlSeconds, recorded: charged.value.audited, ledger_batch: charged.value.batch },
  );
}

/**
 * One ledger's part of a token: `agent` is whose ledger (for a delegated token, the subject's or the actor's) and
 * which proofs it burns. `delegation`: the token's actor or subject as that ledger records it, and in the subject's
 * ledger the subject token, which must still be active there (docs/delegation.md).
 */
export async function chargeLedger(
  ctx: Pick<GrantContext, "env" | "waitUntil" | "batchLedgerCalls">,
  agent: IssuingAgent,
  grant: RequestedGrant,
  rules: BudgetRule[],
  jti: string,
  now: Date,
  audit: AuditEvent | undefined,
  delegation: { actor?: string; actedFor?: string; parent?: ParentToken } = {},
): Promise<Result<{ audited: boolean; batch: number }>> {
  const { parent, ...parties } = delegation;
  const call: IssueCall = {
    proofs: agent.proofs.map(({ jti, expiresAt }) => ({ jti, expiresAt })),
    charge: {
      jti,
      useCaseId: grant.useCaseId,
      units: tokenUnits(grant.limits),
      expiresAt: now.getTime() + grant.ttlSeconds * 1000,
      ...parties,
    },
    rules,
    now: now.getTime(),
  };
  if (audit !== undefined) call.audit = audit;
  if (parent !== undefined) call.parent = parent;
  const { result, batch } = await issueInLedger(ctx, agent.agentId, call);
  if (result.ok) return { ok: true, value: { audited: result.audited === true, batch } };
  return ledgerRefusal(result, agent);
}

/** A ledger's refusal as the request's: the kill switch, a replayed proof (named by where it came from), a budget. */
export function ledgerRefusal(result: Exclude<IssueResult, { ok: true }>, agent: IssuingAgent): Result<never> {
  switch (result.reason) {
    case "disabled":
      return fail({ code: "agent_disabled" });
    case "replayed":
      return fail(replayReason(agent, result.replayedJti));
    case "budget":
      return fail({ code: "budget_exhausted", budget: result.budget, retryAfterSeconds: result.retryAfterSeconds });
    case "parent_inactive":
      return fail({ code: "subject_token_invalid", failure: "revoked" });
    default:
      return assertNever(result);
  }
}

export function replayReason(agent: IssuingAgent, replayedJti: string): Reason {
  const source = agent.proofs.find((p) => p.jti === replayedJti)?.source;
  if (source === "dpop_proof") return { code: "invalid_dpop_proof", failure: "replayed" };
  if (source === "actor_token") return { code: "actor_token_invalid", failure: "replayed" };
  return source === "subject_token"
    ? { code: "subject_token_invalid", failure: "replayed" }
    : { code: "client_assertion_invalid", failure: "replayed" };
}

/** The agent with the request's DPoP proof added to the proofs its ledger burns (RFC 9449 §11.1: a proof is used once). */
export function withDpopProof(agent: IssuingAgent, proof: GrantContext["dpop"]): IssuingAgent {
  return proof === undefined ? agent : { ...agent, proofs: [...agent.proofs, { ...proof.use, source: "dpop_proof" }] };
}

/** A use case with `"dpop": "required"` is issued only to a request that carried a proof. */
export function dpopRequirement(
  useCase: { id: string; dpop?: "optional" | "required" | undefined },
  proof: GrantContext["dpop"],
): Result<void> {
  return useCase.dpop === "required" && proof === undefined
    ? fail({ code: "dpop_required", useCase: useCase.id })
    : { ok: true, value: undefined };
}

/** Signs the token. A delegated token (`minting.act`) says nothing of how the actor authenticated: `agent_auth` describes `sub`. */
export async function mintToken(
  grant: RequestedGrant,
  ctx: GrantContext,
  minting: Minting,
  jti: string,
  agent: Pick<IssuingAgent, "federated">,
): Promise<Issued> {
  const { federated } = agent;
  const agentAuth = federated && { method: "workload_identity" as const, iss: federated.issuer, sub: federated.subject };
  const claims = accessTokenClaims(grant, ctx.issuer, ctx.now, jti, minting.approval, minting.jkt, agentAuth, minting.act);
  const accessToken = await signAccessToken(claims, minting.keys.signer);
  const response: TokenResponse = {
    access_token: accessToken,
    token_type: minting.jkt === undefined ? "Bearer" : "DPoP",
    expires_in: grant.ttlSeconds,
    scope: claims.scope,
    authorization_details: claims.authorization_details,
  };
  if (minting.tokenExchange) response.issued_token_type = TOKEN_TYPE.accessToken;
  return { response, jti };
}
