/**
 * Writ's agent SDK: get short-lived, scoped tokens from a Writ broker with the agent's registered key, waiting for a
 * human approval when the policy asks for one. Plain OAuth underneath (RFC 8414, 7523, 8693, 9396, OpenID CIBA), so
 * any OAuth client can do the same; this one adds the cache, the approval wait and errors an agent can act on.
 * Depends only on jose and web APIs: runs on Node >= 20, Workers, Deno and Bun.
 *
 * @example
 * import { WritClient, WritDenied } from "@writ/agent";
 *
 * const writ = new WritClient({ issuer: "https://writ.example.com", agentId: "support-bot", key: JSON.parse(process.env.WRIT_AGENT_KEY!) });
 * const { accessToken } = await writ.token({ useCase: "crm.customers.read", intent: "look up the customer on ticket SUP-42" });
 */
export { type AssertionOptions, signAgentAssertion } from "./assertion.ts";
export { systemClock } from "./clock.ts";
export { discoverBroker, metadataUrl } from "./discovery.ts";
export { createDpopKey, type DpopKey, type DpopKeyOptions } from "./dpop.ts";
export {
  type BrokerAnswer,
  WritApprovalDenied,
  WritApprovalExpired,
  WritApprovalRequired,
  WritBrokerUnavailable,
  WritDenied,
  WritDiscoveryFailed,
  WritError,
  type WritErrorCode,
  WritInvalidClient,
  WritInvalidRequest,
  WritRateLimited,
  WritTokenError,
  WritUnexpectedResponse,
} from "./errors.ts";
export { type McpFetch, type McpTokenSource, type McpToolCall, type WritMcpOptions, writMcpFetch } from "./mcp.ts";
export { type ApprovalStarted, type OneShotOptions, requestApproval, requestToken, type WritTokenResponse } from "./one-shot.ts";
export type {
  AgentKey,
  AgentPrivateJwk,
  BrokerMetadata,
  Clock,
  FetchLike,
  PendingApproval,
  RequestContext,
  TokenCallOptions,
  TokenRequest,
  WritToken,
} from "./types.ts";
export { WritClient, type WritClientOptions } from "./writ-client.ts";
