/** openid-client, an OAuth client nobody here wrote, set up for one demo agent against a broker started from Node. */
import { randomUUID } from "node:crypto";
import * as client from "openid-client";

/** One request openid-client made, as the broker received it. `requestId` is the broker log's `request_id`. */
export type SentRequest = { requestId: string; url: string; body: URLSearchParams };
export type OpenIdAgent = { config: client.Configuration; sent: SentRequest[] };

/** Discovers the broker from its issuer URL alone (RFC 8414), with every request recorded and tagged with a request id. */
export async function connectAgent(issuer: string, agentId: string, auth: client.ClientAuth): Promise<OpenIdAgent> {
  const sent: SentRequest[] = [];
  // Cloudflare's edge sets cf-ray in production; locally it lets a test find its request in the broker's log.
  const recordingFetch: client.CustomFetch = (url, options) => {
    const requestId = randomUUID();
    const body = typeof options.body === "string" || options.body instanceof URLSearchParams ? options.body : undefined;
    sent.push({ requestId, url, body: new URLSearchParams(body) });
    return fetch(url, { ...options, headers: { ...options.headers, "cf-ray": requestId } });
  };
  const config = await client.discovery(new URL(issuer), agentId, undefined, auth, {
    algorithm: "oauth2",
    execute: [client.allowInsecureRequests],
    [client.customFetch]: recordingFetch,
  });
  return { config, sent };
}

export function lastRequest(agent: OpenIdAgent): SentRequest {
  const request = agent.sent.at(-1);
  if (!request) throw new TypeError("openid-client has sent no request yet");
  return request;
}
