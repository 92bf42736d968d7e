import { decodeJwt } from "jose";
import type { Outcome } from "../../core/audit/outcome.ts";
import { type AssertionExpectations, type AssertionResult, verifyAgentAssertion } from "../../core/identity/agent-assertion.ts";
import { type CompiledIssuer, claimedTrustedIssuer, type FederatedIdentity, looksLikeIssuerUrl } from "../../core/identity/federation.ts";
import type { CompiledPolicy } from "../../core/policy/compile-policy.ts";
import { fail, ok, type Result } from "../../core/refusals.ts";
import type { ProofUse } from "../../durable-objects/agent-ledger.ts";
import { AgentSchema } from "../../schemas/policy.ts";
import { CLIENT_ASSERTION_TYPE_JWT_BEARER, GRANT_TYPE, TOKEN_TYPE, type TokenRequest } from "../../schemas/token-request.ts";
import { ID_TOKEN_TYPE } from "../../schemas/trusted-issuer.ts";
import { federationOf, verifyFederated } from "../identity/workload-identity.ts";

/** Which parameter carried a proof, so that a replay is reported against the right one. */
export type ProofSource = "client_assertion" | "subject_token" | "actor_token";
/**
 * `federated`: the agent authenticated with a workload token from a trusted issuer (docs/workload-identity.md)
 * rather than with its own registered key; the issued token says so.
 */
export type AuthenticatedAgent = { agentId: string; proofs: (ProofUse & { source: ProofSource })[]; federated?: FederatedIdentity };
type AuthenticatedClient = AuthenticatedAgent & { assertion: AssertionResult & { ok: true } };

export type AuthenticationContext = { policy: CompiledPolicy; audiences: readonly string[]; now: Date };
type Context = AuthenticationContext;

/**
 * Establishes which agent is asking, from private_key_jwt client authentication (RFC 7523 §2.2) and, for
 * token exchange, the subject_token (RFC 8693 §2.1). Replay is not checked here: the proofs are returned
 * so that the ledger can burn them atomically with everything else the token costs.
 */
export async function authenticateAgent(request: TokenRequest, ctx: Context): Promise<Result<AuthenticatedAgent>> {
  const client = await authenticateClient(request, ctx);
  if (!client.ok) return client;

  if (request.grant_type === GRANT_TYPE.clientCredentials) {
    if (!client.value) return fail({ code: "client_authentication_missing" });
    return ok({ agentId: client.value.agentId, proofs: client.value.proofs });
  }

  if (request.actor_token !== undefined || request.actor_token_type !== undefined) return fail({ code: "delegation_not_supported" });
  if (request.subject_token === undefined) return fail({ code: "missing_parameter", parameter: "subject_token" });
  if (request.subject_token_type === undefined) return fail({ code: "missing_parameter", parameter: "subject_token_type" });
  // GitHub Actions' tokens are OIDC ID tokens (RFC 8693 §3 names both types); only a workload token may be called one.
  if (request.subject_token_type !== TOKEN_TYPE.jwt && request.subject_token_type !== ID_TOKEN_TYPE)
    return fail({ code: "unsupported_token_type", parameter: "subject_token_type", value: request.subject_token_type });
  if (
    request.requested_token_type !== undefined &&
    request.requested_token_type !== TOKEN_TYPE.accessToken &&
    request.requested_token_type !== TOKEN_TYPE.jwt
  )
    return fail({ code: "unsupported_token_type", parameter: "requested_token_type", value: request.requested_token_type });

  // A token whose `iss` is a trusted workload issuer is that issuer's to vouch for; anything else is an agent's own assertion.
  const trusted = claimedTrustedIssuer(request.subject_token, federationOf(ctx.policy));
  if (trusted !== undefined) {
    const workload = await workloadAgent(request.subject_token, trusted, "subject_token", ctx.now);
    if (!workload.ok) return workload;
    const claimedClient = client.value?.agentId ?? request.client_id;
    if (claimedClient !== undefined && claimedClient !== workload.value.agentId) return fail({ code: "subject_client_mismatch" });
    return ok({ ...workload.value, proofs: [...(client.value?.proofs ?? []), ...workload.value.proofs] });
  }

  if (request.subject_token_type !== TOKEN_TYPE.jwt)
    return fail({ code: "unsupported_token_type", parameter: "subject_token_type", value: request.subject_token_type });
  // A foreign issuer's token is named as such in the audit trail (the broker's own access tokens keep their old reason).
  const untrusted = looksLikeIssuerUrl(request.subject_token);
  if (untrusted !== undefined && untrusted !== ctx.audiences[0])
    return fail({ code: "subject_token_invalid", failure: "untrusted_issuer", detail: untrusted.slice(0, 200) });

  // The contract lets one JWT serve as both: it is then verified (and burnt) once.
  const sameJwt = request.subject_token === request.client_assertion ? client.value?.assertion : undefined;
  const subject = sameJwt ?? (await verifyAgentAssertion(request.subject_token, expectations(ctx)));
  if (!subject.ok) return fail({ code: "subject_token_invalid", failure: subject.failure, detail: subject.detail });
  const { agentId } = subject.value;
  // A public client (auth method "none") may still say who it is; it must be the subject it presents.
  const claimedClient = client.value?.agentId ?? request.client_id;
  if (claimedClient !== undefined && claimedClient !== agentId) return fail({ code: "subject_client_mismatch" });

  const proofs = [...(client.value?.proofs ?? [])];
  if (!proofs.some((p) => p.jti === subject.value.jti))
    proofs.push({ jti: subject.value.jti, expiresAt: subject.value.expiresAt, source: "subject_token" });
  return ok({ agentId, proofs });
}

/**
 * Delegation (docs/delegation.md): the agent acting, from its client authentication and/or its `actor_token` (RFC
 * 8693 §2.1: its own assertion, or a workload token from a trusted issuer). Both, when sent, must name the same
 * agent; each proof is burnt by the actor's ledger, so the same actor token is never accepted twice.
 */
export async function authenticateActor(request: TokenRequest, ctx: Context): Promise<Result<AuthenticatedAgent>> {
  const client = await authenticateClient(request, ctx);
  if (!client.ok) return client;
  if (request.actor_token === undefined) {
    if (request.actor_token_type !== undefined) return fail({ code: "missing_parameter", parameter: "actor_token" });
    if (!client.value) return fail({ code: "client_authentication_missing" });
    return ok({ agentId: client.value.agentId, proofs: client.value.proofs });
  }
  if (request.actor_token_type === undefined) return fail({ code: "missing_parameter", parameter: "actor_token_type" });
  if (request.actor_token_type !== TOKEN_TYPE.jwt && request.actor_token_type !== ID_TOKEN_TYPE)
    return fail({ code: "unsupported_token_type", parameter: "actor_token_type", value: request.actor_token_type });

  const trusted = claimedTrustedIssuer(request.actor_token, federationOf(ctx.policy));
  let actor: AuthenticatedAgent;
  if (trusted !== undefined) {
    const workload = await workloadAgent(request.actor_token, trusted, "actor_token", ctx.now);
    if (!workload.ok) return workload;
    actor = workload.value;
  } else {
    if (request.actor_token_type !== TOKEN_TYPE.jwt)
      return fail({ code: "unsupported_token_type", parameter: "actor_token_type", value: request.actor_token_type });
    const sameJwt = request.actor_token === request.client_assertion ? client.value?.assertion : undefined;
    const verified = sameJwt ?? (await verifyAgentAssertion(request.actor_token, expectations(ctx)));
    if (!verified.ok) return fail({ code: "actor_token_invalid", failure: verified.failure, detail: verified.detail });
    const { agentId, jti, expiresAt } = verified.value;
    actor = { agentId, proofs: [{ jti, expiresAt, source: "actor_token" }] };
  }
  const claimedClient = client.value?.agentId ?? request.client_id;
  if (claimedClient !== undefined && claimedClient !== actor.agentId) return fail({ code: "actor_client_mismatch" });
  const proofs = [...(client.value?.proofs ?? [])];
  for (const proof of actor.proofs) if (!proofs.some((p) => p.jti === proof.jti)) proofs.push(proof);
  return ok({ ...actor, proofs });
}

/** undefined when the client did not authenticate (allowed for token exchange, where the subject_token proves identity). */
async function authenticateClient(request: TokenRequest, ctx: Context): Promise<Result<AuthenticatedClient | undefined>> {
  if (request.client_assertion_type === undefined && request.client_assertion === undefined) return ok(undefined);
  if (request.client_assertion_type !== CLIENT_ASSERTION_TYPE_JWT_BEARER) return fail({ code: "client_assertion_type_unsupported" });
  if (request.client_assertion === undefined) return fail({ code: "client_authentication_missing" });
  const verified = await verifyAgentAssertion(request.client_assertion, { ...expectations(ctx), clientId: request.client_id });
  if (!verified.ok) return fail({ code: "client_assertion_invalid", failure: verified.failure, detail: verified.detail });
  const { agentId, jti, expiresAt } = verified.value;
  return ok({ agentId, proofs: [{ jti, expiresAt, source: "client_assertion" }], assertion: verified });
}

/**
 * The agent a workload token maps to, as the parameter that carried it: a bad token is refused as that parameter
 * (`subject_token_invalid` or `actor_token_invalid`), an issuer whose keys cannot be fetched as `issuer_unreachable`.
 */
async function workloadAgent(
  jwt: string,
  trusted: CompiledIssuer,
  source: "subject_token" | "actor_token",
  now: Date,
): Promise<Result<AuthenticatedAgent>> {
  const workload = await verifyFederated(jwt, trusted, now);
  if (!workload.ok) {
    if (workload.failure === "issuer_unreachable")
      return fail({ code: "issuer_unreachable", issuer: trusted.issuer, detail: workload.detail ?? "unreachable" });
    const refused = { failure: workload.failure, detail: workload.detail };
    return fail(source === "subject_token" ? { code: "subject_token_invalid", ...refused } : { code: "actor_token_invalid", ...refused });
  }
  const { agentId, proof } = workload.value;
  return ok({ agentId, proofs: proof === undefined ? [] : [{ ...proof, source }], federated: workload.value });
}

function expectations(ctx: Context): AssertionExpectations {
  return { policy: ctx.policy, audiences: ctx.audiences, now: ctx.now };
}

/** What a claimed agent is recorded as when the request named something that cannot be an agent id at all. */
export const MALFORMED_CLAIM = "(not an agent id)";

/**
 * Which agent a request that failed to authenticate said it was, for the record: `client_id`, else the `iss` (or
 * `sub`) of its client assertion or subject token, read WITHOUT verifying anything. It lets an admin see who is
 * being impersonated; it must never route or attribute a record. Text that cannot be an agent id is not kept.
 *
 * @example
 * const agent = await authenticateAgent(request, ctx);
 * if (!agent.ok) return withFacts(agent, unverifiedClaim(request));
 */
export function unverifiedClaim(request: Pick<TokenRequest, "client_id" | "client_assertion" | "subject_token">): Outcome {
  const claimed = request.client_id ?? claimedIssuer(request.client_assertion) ?? claimedIssuer(request.subject_token);
  if (claimed === undefined) return {};
  return { claimed_agent: AgentSchema.shape.id.safeParse(claimed).success ? claimed : MALFORMED_CLAIM };
}

function claimedIssuer(jwt: string | undefined): string | undefined {
  if (jwt === undefined) return undefined;
  try {
    const { iss, sub } = decodeJwt(jwt);
    return typeof iss === "string" ? iss : typeof sub === "string" ? sub : undefined;
  } catch {
    // Not a JWT: it names nobody.
    return undefined;
  }
}
