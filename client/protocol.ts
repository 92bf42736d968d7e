/** The OAuth parameters of each request the SDK sends, and the shapes of the broker's answers. */
import { WritUnexpectedResponse } from "./errors.ts";
import type { RequestContext, TokenRequest, WritToken } from "./types.ts";

export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
export const CIBA_GRANT = "urn:openid:params:grant-type:ciba";
export const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";
export const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** OpenID CIBA §7.3: the interval when the server names none. */
const DEFAULT_POLL_INTERVAL_SECONDS = 5;

/** private_key_jwt client authentication (RFC 7523 §2.2). */
export function clientAuthentication(agentId: string, assertion: string): Record<string, string> {
  return { client_id: agentId, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion };
}

/**
 * RFC 8693 token exchange. The agent authenticates with private_key_jwt and presents the same assertion as the
 * subject_token (the contract allows it; the broker verifies and burns it once): the subject is the agent itself.
 */
export function tokenExchangeForm(agentId: string, assertion: string, request: TokenRequest): URLSearchParams {
  const form = new URLSearchParams({
    grant_type: TOKEN_EXCHANGE_GRANT,
    ...clientAuthentication(agentId, assertion),
    subject_token: assertion,
    subject_token_type: JWT_TOKEN_TYPE,
  });
  addUseCase(form, request);
  return form;
}

/** OpenID CIBA §7.1: the same use-case parameters, plus an optional binding message. */
export function backchannelForm(agentId: string, assertion: string, request: TokenRequest, bindingMessage?: string): URLSearchParams {
  const form = new URLSearchParams(clientAuthentication(agentId, assertion));
  addUseCase(form, request);
  if (bindingMessage !== undefined) form.set("binding_message", bindingMessage);
  return form;
}

/** OpenID CIBA §10.1: one poll for the token of an approval. */
export function cibaPollForm(agentId: string, assertion: string, authReqId: string): URLSearchParams {
  return new URLSearchParams({ grant_type: CIBA_GRANT, auth_req_id: authReqId, ...clientAuthentication(agentId, assertion) });
}

/** One use case: as `scope`, or as RFC 9396 `authorization_details` when narrowed to actions or locations. */
function addUseCase(form: URLSearchParams, request: TokenRequest): void {
  if (request.actions !== undefined || request.locations !== undefined) {
    const detail = {
      type: "agent_use_case",
      use_case: request.useCase,
      ...(request.actions === undefined ? {} : { actions: request.actions }),
      ...(request.locations === undefined ? {} : { locations: request.locations }),
    };
    form.set("authorization_details", JSON.stringify([detail]));
  } else {
    form.set("scope", request.useCase);
  }
  if (request.resource !== undefined) form.set("resource", request.resource);
  if (request.intent !== undefined) form.set("intent", request.intent);
  if (request.context !== undefined) form.set("context", JSON.stringify(request.context));
}

/** A successful token response (RFC 6749 §5.1), its lifetime counted from when the request was sent. */
export function parseTokenResponse(body: Record<string, unknown>, sentAtMs: number, requestId: string | undefined): WritToken {
  const { access_token, token_type, expires_in, scope, authorization_details } = body;
  if (typeof access_token !== "string" || access_token.length === 0 || typeof token_type !== "string")
    throw new WritUnexpectedResponse("the Writ broker's token response has no access_token", { status: 200, requestId });
  const lifetime = typeof expires_in === "number" && expires_in > 0 ? expires_in : 0;
  return Object.freeze({
    accessToken: access_token,
    tokenType: token_type,
    expiresAt: sentAtMs + lifetime * 1000,
    scope: typeof scope === "string" ? scope : "",
    authorizationDetails: Object.freeze(Array.isArray(authorization_details) ? [...authorization_details] : []),
  });
}

/** The answer of /bc-authorize (OpenID CIBA §7.3). */
export type BackchannelStarted = { authReqId: string; expiresIn: number; interval: number };

export function parseBackchannelResponse(body: Record<string, unknown>, requestId: string | undefined): BackchannelStarted {
  const { auth_req_id, expires_in, interval } = body;
  if (typeof auth_req_id !== "string" || auth_req_id.length === 0 || typeof expires_in !== "number" || expires_in <= 0)
    throw new WritUnexpectedResponse("the Writ broker's /bc-authorize answer has no auth_req_id or expires_in", { status: 200, requestId });
  const seconds = typeof interval === "number" && interval > 0 ? interval : DEFAULT_POLL_INTERVAL_SECONDS;
  return { authReqId: auth_req_id, expiresIn: expires_in, interval: seconds };
}

/** A context must be a flat JSON object: the broker refuses anything else, so say it before sending. */
export function checkContext(context: unknown): asserts context is RequestContext | undefined {
  if (context === undefined) return;
  if (typeof context !== "object" || context === null || Array.isArray(context))
    throw new TypeError("`context` must be a flat object of strings, numbers and booleans");
  for (const [key, value] of Object.entries(context)) {
    if (typeof value !== "string" && typeof value !== "boolean" && !(typeof value === "number" && Number.isFinite(value)))
      throw new TypeError(`\`context.${key}\` must be a string, a finite number or a boolean`);
  }
}

/** The caller's request, checked once: misuse is a `TypeError`, never a round trip to the broker. */
export function checkTokenRequest(request: TokenRequest): void {
  if (typeof request !== "object" || request === null) throw new TypeError("token(): pass { useCase, … }");
  if (typeof request.useCase !== "string" || request.useCase.length === 0) throw new TypeError("token(): `useCase` must be a use case id");
  if (request.intent !== undefined && typeof request.intent !== "string") throw new TypeError("token(): `intent` must be a string");
  if (request.resource !== undefined && (typeof request.resource !== "string" || !URL.canParse(request.resource)))
    throw new TypeError("token(): `resource` must be an absolute URL (RFC 8707)");
  for (const name of ["actions", "locations"] as const) {
    const list = request[name];
    if (list !== undefined && (!Array.isArray(list) || list.some((item) => typeof item !== "string")))
      throw new TypeError(`token(): \`${name}\` must be an array of strings`);
  }
  checkContext(request.context);
}
