/**
 * OAuth parameters as the RFCs spell them. Tests write the registered values out instead of importing the
 * broker's constants, so a typo in the broker fails a test instead of passing on both sides.
 */

export const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const CIBA_GRANT = "urn:openid:params:grant-type:ciba";
export const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
export const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** An RFC 6749 §5.2 error body. */
export type OAuthError = { error: string; error_description: string };

/** private_key_jwt client authentication (RFC 7523 §2.2); `clientId` is optional there. */
export function clientAuthParams(assertion: string, clientId?: string): Record<string, string> {
  return {
    ...(clientId === undefined ? {} : { client_id: clientId }),
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: assertion,
  };
}

/** client_credentials authenticated by the assertion. */
export function clientCredentialsParams(assertion: string, params: Record<string, string> = {}): Record<string, string> {
  return { grant_type: "client_credentials", ...clientAuthParams(assertion), ...params };
}

/** RFC 8693 token exchange with the agent's assertion as subject_token. */
export function tokenExchangeParams(subjectToken: string, params: Record<string, string> = {}): Record<string, string> {
  return { grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: JWT_TOKEN_TYPE, ...params };
}
