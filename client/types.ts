/** The shapes the SDK takes and gives. Plain types, so they cost nothing at run time. */

/**
 * A fetch the SDK calls: the global `fetch` by default. Tests pass one that talks to an in-process broker;
 * Workers may pass a service binding's `fetch`.
 */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; redirect?: "manual"; signal?: AbortSignal },
) => Promise<Response>;

/**
 * The SDK's sense of time: `now()` dates assertions and ages cached tokens; `sleep()` waits between approval polls
 * and must reject with `signal.reason` when the signal aborts. Tests pass a fake one.
 */
export type Clock = {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
};

/** An agent's registered private key: a private JWK (EC P-256 or Ed25519, with `d`), or a CryptoKey that can sign. */
export type AgentKey = AgentPrivateJwk | CryptoKey;

/** A private JWK as `writ agent add` writes it: `kid` and `alg` make the broker's key lookup exact. */
export type AgentPrivateJwk = {
  kty?: string;
  crv?: string;
  x?: string;
  y?: string;
  d?: string;
  kid?: string;
  alg?: string;
  [parameter: string]: unknown;
};

/** Facts the policy's conditions check (e.g. a ticket id): a flat JSON object. */
export type RequestContext = Record<string, string | number | boolean>;

/** What one token is for. Two calls with equal requests share a cached token. */
export type TokenRequest = {
  /** The use case id from the policy, e.g. `crm.customers.read`. */
  useCase: string;
  /** What the agent is about to do, in plain words (at most 500 characters). Approvers read it; some use cases require it. */
  intent?: string;
  /** Facts the use case's conditions check, e.g. `{ ticket: "SUP-42" }`. */
  context?: RequestContext;
  /** The downstream service (RFC 8707 `resource`), when the use case allows more than one. */
  resource?: string;
  /** Narrow the token to these of the use case's actions (RFC 9396 `authorization_details`). */
  actions?: string[];
  /** Narrow the token to these of the use case's locations. */
  locations?: string[];
};

/** Per-call options of `WritClient.token`; they do not change which token is cached. */
export type TokenCallOptions = {
  /** Called once when a human approval starts, and again after each poll that finds it still pending. An error it throws ends the wait. */
  onPending?: (pending: PendingApproval) => void | Promise<void>;
  /** Stops waiting (for the broker or for approvers); the call rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** `"wait"` (default) starts an approval and waits for it; `"fail"` throws `WritApprovalRequired` instead. */
  approval?: "wait" | "fail";
  /** Shown to the approvers next to the request (CIBA `binding_message`, one line, at most 128 characters). */
  bindingMessage?: string;
  /** Skip the cache and ask the broker for a fresh token (which is then cached). */
  fresh?: boolean;
};

/** An approval the agent is waiting for: enough to tell its user what is going on. */
export type PendingApproval = {
  /** The CIBA `auth_req_id`. It lets only this agent collect the token; keep it out of logs. */
  authReqId: string;
  /** Seconds, when the approval started, until the request expires. */
  expiresIn: number;
  /** When the request expires (ms since the epoch, by the SDK's clock). */
  expiresAt: number;
  /** Seconds the SDK waits before its next poll (grows by 5 after each `slow_down`). */
  interval: number;
  /** Polls so far: 0 when the approval has just started. */
  polls: number;
  useCase: string;
  intent: string | undefined;
};

/** An access token from the broker. Frozen: the cache hands the same object to every equal request. */
export type WritToken = {
  /** The token to send to the service: `Authorization: Bearer <accessToken>`, or with a DPoP proof when `tokenType` is `DPoP`. */
  readonly accessToken: string;
  /** `Bearer`, or `DPoP` for a token bound to the client's DPoP key (`WritClient.authHeaders` sends either right). */
  readonly tokenType: string;
  /** When the token expires (ms since the epoch, by the SDK's clock). */
  readonly expiresAt: number;
  /** The use case id. */
  readonly scope: string;
  /** What was granted (RFC 9396): actions, locations and the limits the service enforces. */
  readonly authorizationDetails: readonly unknown[];
};

/** The broker's metadata (RFC 8414), as far as the SDK uses it. */
export type BrokerMetadata = {
  issuer: string;
  token_endpoint: string;
  backchannel_authentication_endpoint?: string;
  [field: string]: unknown;
};
