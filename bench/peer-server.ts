/**
 * The peer `npm run bench` measures Writ against (issue #15): node-oidc-provider issuing the same kind of token for
 * the same request — `client_credentials` with `private_key_jwt` (a fresh ES256 client assertion per request, its
 * `jti` checked against replay) and an ES256 JWT access token (RFC 9068) for one resource server. Run by the bench as
 * its own Node process, pinned to the server core like workerd:
 *
 *   node bench/peer-server.ts < config.json     # prints "listening <issuer URL>" once it answers requests
 *
 * The config (stdin, JSON): `{ agents: [{ id, publicJwk }], signingJwk, audience, scope }`; the issuer is the address
 * it listens on (`http://127.0.0.1:<port>`), which is also the audience agents sign their assertions for. The provider's
 * replay store is its default in-memory adapter (an LRU that forgets a `jti` after enough newer ones), where Writ
 * remembers every `jti` durably: the peer does strictly less. Bench-only, never part of the Worker.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { text } from "node:stream/consumers";
import type { JWK } from "jose";
import Provider from "oidc-provider";

export type PeerConfig = {
  agents: { id: string; publicJwk: JWK }[];
  /** The provider's ES256 private signing key. */
  signingJwk: JWK;
  /** The resource server's identifier: the access token's `aud`. */
  audience: string;
  scope: string;
};

const TOKEN_TTL_SECONDS = 300;

const config = JSON.parse(await text(process.stdin)) as PeerConfig;

// Listening first, so the issuer can name the port the OS gave (no race for a port chosen in advance).
let handle: ((request: IncomingMessage, response: ServerResponse) => void) | undefined;
const server = createServer((request, response) => handle?.(request, response));
server.keepAliveTimeout = 60_000;
await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const provider = new Provider(issuer, {
  clients: config.agents.map((agent) => ({
    client_id: agent.id,
    token_endpoint_auth_method: "private_key_jwt",
    token_endpoint_auth_signing_alg: "ES256",
    // The provider signs nothing else, but checks every client's ID token algorithm against its keys (ES256 only).
    id_token_signed_response_alg: "ES256",
    jwks: { keys: [{ ...agent.publicJwk, use: "sig" }] },
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
    scope: config.scope,
  })),
  jwks: { keys: [{ ...config.signingJwk, use: "sig", alg: "ES256" }] },
  scopes: [config.scope],
  enabledJWA: { clientAuthSigningAlgValues: ["ES256"] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Writ's token requests name a use case, not a resource: every token is for the one resource server.
      defaultResource: () => config.audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: config.scope,
        audience: config.audience,
        accessTokenTTL: TOKEN_TTL_SECONDS,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "ES256" } },
      }),
    },
  },
});
// Uncaught errors would otherwise go to a default listener that logs each one; a refusal must be visible as non-2xx only.
provider.on("server_error", (_ctx: unknown, error: Error) => process.stderr.write(`[peer] ${error.stack ?? error.message}\n`));
handle = provider.callback();
process.stdout.write(`listening ${issuer}\n`);
