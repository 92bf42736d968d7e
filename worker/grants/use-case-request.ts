import type { UseCaseRequest } from "../../core/policy/decide.ts";
import type { TokenRequest } from "../../schemas/token-request.ts";

// What a token request asks for, shared by the plain and the delegated grant and by CIBA's bc-authorize.

export function useCaseRequest(request: Omit<TokenRequest, "grant_type">): UseCaseRequest {
  return {
    scope: request.scope,
    authorizationDetails: request.authorization_details,
    resource: request.resource,
    audience: request.audience,
    intent: request.intent,
    context: request.context,
  };
}

/** The use case a request names, for the audit trail of a refusal (the first one if it names several). */
export function requestedUseCaseId(request: Pick<TokenRequest, "scope" | "authorization_details">): string | undefined {
  return (request.authorization_details?.[0]?.use_case ?? request.scope?.split(" ").find((s) => s && s !== "openid"))?.slice(0, 128);
}
