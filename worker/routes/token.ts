import type { Context } from "hono";
import { GRANT_TYPE, type TokenRequest, TokenRequestSchema } from "../../schemas/token-request.ts";
import type { AppEnv } from "../app-env.ts";
import { readConfig } from "../config.ts";
import { errorResponse, fail, ok, type Reason, type Result } from "../errors.ts";
import { authenticateAgent } from "../grants/authenticate-agent.ts";
import { issueToken } from "../grants/issue-token.ts";
import { readForm } from "../http/read-form.ts";
import { activePolicy } from "../policy/active-policy.ts";
import { decide } from "../policy/decide.ts";
import { activeKeys } from "../tokens/signing-keys.ts";

const USE_CASE_GRANTS = new Set<string>([GRANT_TYPE.tokenExchange, GRANT_TYPE.clientCredentials]);

/** POST /token (RFC 6749 §3.2): token exchange (RFC 8693) and client_credentials, both for exactly one use case. */
export async function tokenRoute(c: Context<AppEnv>): Promise<Response> {
  const now = new Date();
  const config = readConfig(c.env);
  const outcome = c.get("outcome");
  const refuse = (reason: Reason): Response => {
    Object.assign(outcome, { decision: "denied", reason: reason.code, ...privateDetail(reason) });
    return errorResponse(reason);
  };

  const parsed = await parseTokenRequest(c.req.raw);
  if (!parsed.ok) return refuse(parsed.reason);
  const request = parsed.value;
  outcome.grant_type = request.grant_type;
  const authorization = c.req.header("authorization");
  if (authorization !== undefined) return refuse({ code: "client_auth_method_unsupported", scheme: authScheme(authorization) });
  if (!USE_CASE_GRANTS.has(request.grant_type)) return refuse({ code: "unsupported_grant_type", grantType: request.grant_type });

  const agent = await authenticateAgent(request, { policy: activePolicy, audiences: [config.issuer, config.tokenEndpoint], now });
  if (!agent.ok) return refuse(agent.reason);
  outcome.agent = agent.value.agentId;

  const decision = decide(activePolicy, agent.value.agentId, requestedUseCase(request), now);
  if (!decision.ok) return refuse(decision.reason);
  const grant = decision.value;
  Object.assign(outcome, { use_case: grant.useCase.id, audience: grant.audience });
  if (grant.needsApproval) return refuse({ code: "approval_required", useCase: grant.useCase.id });

  const keys = await activeKeys(c.env, config);
  const issued = await issueToken(agent.value, grant, {
    env: c.env,
    issuer: config.issuer,
    keys,
    now,
    tokenExchange: request.grant_type === GRANT_TYPE.tokenExchange,
  });
  if (!issued.ok) return refuse(issued.reason);
  Object.assign(outcome, { decision: "issued", token_jti: issued.value.jti, expires_in: grant.ttlSeconds });
  return c.json(issued.value.response, 200, { "Cache-Control": "no-store", Pragma: "no-cache" });
}

async function parseTokenRequest(raw: Request): Promise<Result<TokenRequest>> {
  const form = await readForm(raw);
  if (!form.ok) return form;
  for (const name of Object.keys(form.value.repeated))
    return fail({ code: "invalid_target", detail: `a token names exactly one service: "${name}" must not be repeated` });
  const parsed = TokenRequestSchema.safeParse(form.value.single);
  if (parsed.success) return ok(parsed.data);
  const issue = parsed.error.issues[0];
  const parameter = String(issue?.path[0] ?? "request");
  if (issue?.code === "invalid_type" && !(parameter in form.value.single)) return fail({ code: "missing_parameter", parameter });
  const detail = issue?.message ?? "is invalid";
  // RFC 9396 §5 gives malformed authorization_details its own error code.
  if (parameter === "authorization_details")
    return fail({ code: "invalid_authorization_details", detail: describeDetailIssue(issue?.path.slice(1) ?? [], detail) });
  return fail({ code: "invalid_parameter", parameter, detail: parameter === "context" ? `is invalid: ${detail}` : "is invalid" });
}

/** e.g. `authorization_details[0].actions: …`, so the agent's developer finds the bad member at once. */
function describeDetailIssue(path: PropertyKey[], message: string): string {
  const where = path.map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`)).join("");
  return `authorization_details${where}: ${message}`;
}

function requestedUseCase(request: TokenRequest) {
  return {
    scope: request.scope,
    authorizationDetails: request.authorization_details,
    resource: request.resource,
    audience: request.audience,
    intent: request.intent,
    context: request.context,
  };
}

/** The scheme of an Authorization header, echoed in a challenge only if it is a well-formed HTTP token. */
function authScheme(header: string): string {
  const scheme = header.trim().split(/\s+/)[0] ?? "";
  return /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}$/.test(scheme) ? scheme : "Basic";
}

/** The detail that only the log sees (which identity check failed). Never a token or assertion. */
function privateDetail(reason: Reason): Record<string, string> {
  if (reason.code === "client_assertion_invalid" || reason.code === "subject_token_invalid")
    // The detail may echo attacker-chosen text (an unknown kid or iss): bounded so it cannot bloat the log.
    return reason.detail === undefined ? { failure: reason.failure } : { failure: reason.failure, detail: reason.detail.slice(0, 128) };
  return {};
}
