import type { Context } from "hono";
import { DPOP_SIGNING_ALGORITHMS } from "../../core/dpop/token-request-proof.ts";
import { ASSERTION_ALGORITHMS } from "../../core/identity/agent-assertion.ts";
import { JWKS_MAX_AGE_SECONDS } from "../../core/keys/jwks-max-age.ts";
import { AGENT_USE_CASE_TYPE } from "../../schemas/authorization-details.ts";
import { GRANT_TYPE } from "../../schemas/token-request.ts";
import type { AppEnv } from "../app-env.ts";
import { configOf } from "../http/request-context.ts";
import { activePolicy } from "../policy/active-policy.ts";
import { activeKeys } from "../tokens/signing-keys.ts";

const METADATA_MAX_AGE_SECONDS = 300;

/** GET /.well-known/oauth-authorization-server (RFC 8414 §3). Lists only what this deployment really serves. */
export function metadataRoute(c: Context<AppEnv>): Response {
  const { issuer, tokenEndpoint } = configOf(c);
  return c.json(
    {
      issuer,
      token_endpoint: tokenEndpoint,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      backchannel_authentication_endpoint: `${issuer}/bc-authorize`,
      introspection_endpoint: `${issuer}/introspect`,
      revocation_endpoint: `${issuer}/revoke`,
      // No introspection/revocation_endpoint_auth_methods_supported: services present a bearer credential, which
      // RFC 7662 §2.1 allows but which is no registered client authentication method; RFC 8414 §2 says the methods
      // are then "determined by other means" (docs/contract.md).
      backchannel_token_delivery_modes_supported: ["poll"],
      backchannel_user_code_parameter_supported: false,
      // No authorization endpoint: agents never use a browser redirect flow.
      response_types_supported: [],
      grant_types_supported: [GRANT_TYPE.tokenExchange, GRANT_TYPE.clientCredentials, GRANT_TYPE.ciba],
      token_endpoint_auth_methods_supported: ["private_key_jwt", "none"],
      token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
      authorization_details_types_supported: [AGENT_USE_CASE_TYPE],
      scopes_supported: [...activePolicy.useCases.keys()],
      // RFC 9449 §5.1: a DPoP proof with any token request binds the token to its key.
      dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGORITHMS],
    },
    200,
    { "Cache-Control": `public, max-age=${METADATA_MAX_AGE_SECONDS}` },
  );
}

/** GET /.well-known/jwks.json (RFC 7517 §5): the public halves of the next, current and previous keys. */
export async function jwksRoute(c: Context<AppEnv>): Promise<Response> {
  const { publicKeys } = await activeKeys(c.env, configOf(c));
  return c.json({ keys: publicKeys }, 200, {
    "Cache-Control": `public, max-age=${JWKS_MAX_AGE_SECONDS}`,
    "Content-Type": "application/jwk-set+json",
  });
}
