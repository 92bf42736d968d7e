import { WritBrokerUnavailable, WritDiscoveryFailed } from "./errors.ts";
import type { BrokerMetadata, FetchLike } from "./types.ts";
import { stringField } from "./wire.ts";

/**
 * Where RFC 8414 §3.1 puts an issuer's metadata: the well-known segment goes between the host and any path.
 *
 * @example
 * metadataUrl("https://writ.example.com"); // "https://writ.example.com/.well-known/oauth-authorization-server"
 * metadataUrl("https://example.com/writ"); // "https://example.com/.well-known/oauth-authorization-server/writ"
 */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

/**
 * Reads and checks the broker's metadata (RFC 8414). Its `issuer` must be exactly the configured one (§3.3): a
 * broker that calls itself something else would refuse every assertion made for the configured name anyway, and
 * saying so here is clearer than an `invalid_client` later.
 *
 * @example
 * const metadata = await discoverBroker("https://writ.example.com");
 * metadata.token_endpoint; // "https://writ.example.com/token"
 */
export async function discoverBroker(issuer: string, options: { fetch?: FetchLike; signal?: AbortSignal } = {}): Promise<BrokerMetadata> {
  const url = metadataUrl(issuer);
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, {
      method: "GET",
      headers: { accept: "application/json" },
      redirect: "manual",
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    const reason = error instanceof Error ? error.message : String(error);
    throw new WritBrokerUnavailable(`could not reach the Writ broker at ${url}: ${reason}`, {}, { cause: error });
  }
  const requestId = response.headers.get("x-request-id") ?? undefined;
  if (response.status >= 500)
    throw new WritBrokerUnavailable(`the Writ broker at ${url} answered ${response.status}`, { status: response.status, requestId });
  if (response.status !== 200)
    throw new WritDiscoveryFailed(`no broker metadata at ${url} (HTTP ${response.status}): is "${issuer}" the broker's issuer URL?`, {
      status: response.status,
      requestId,
    });
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new WritDiscoveryFailed(`the broker metadata at ${url} is not a JSON object`, { status: 200, requestId });
  const metadata = body as Record<string, unknown>;
  const named = stringField(metadata, "issuer");
  if (named !== issuer)
    throw new WritDiscoveryFailed(
      `the broker at ${url} calls itself ${named === undefined ? "nothing" : `"${named}"`}, not "${issuer}": pass its issuer exactly as it names itself (RFC 8414 §3.3)`,
      { status: 200, requestId },
    );
  const tokenEndpoint = stringField(metadata, "token_endpoint");
  if (tokenEndpoint === undefined || !URL.canParse(tokenEndpoint))
    throw new WritDiscoveryFailed(`the broker metadata at ${url} has no usable token_endpoint`, { status: 200, requestId });
  const backchannel = stringField(metadata, "backchannel_authentication_endpoint");
  return {
    ...metadata,
    issuer,
    token_endpoint: tokenEndpoint,
    ...(backchannel !== undefined && URL.canParse(backchannel) ? { backchannel_authentication_endpoint: backchannel } : {}),
  };
}
