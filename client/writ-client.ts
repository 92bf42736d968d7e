import { agentKeyAlgorithm, agentSigningKey, DEFAULT_ASSERTION_LIFETIME_SECONDS, type SigningKey, signAssertion } from "./assertion.ts";
import { systemClock } from "./clock.ts";
import { discoverBroker } from "./discovery.ts";
import { createDpopKey, type DpopKey, type DpopKeyOptions } from "./dpop.ts";
import { WritDiscoveryFailed } from "./errors.ts";
import { pollForApprovedToken } from "./poll-approval.ts";
import { backchannelForm, checkTokenRequest, parseBackchannelResponse, parseTokenResponse, tokenExchangeForm } from "./protocol.ts";
import { cacheKey, TokenCache } from "./token-cache.ts";
import type { AgentKey, BrokerMetadata, Clock, FetchLike, PendingApproval, TokenCallOptions, TokenRequest, WritToken } from "./types.ts";
import { type Caller, postForm, refusalError } from "./wire.ts";

/** A cached token is replaced this long before it expires, so a service never sees it expire mid-call. */
export const DEFAULT_REFRESH_BEFORE_EXPIRY_SECONDS = 30;
/** The broker's metadata changes with a deploy at most; read it again after an hour. */
const METADATA_MAX_AGE_MS = 60 * 60 * 1000;
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

export type WritClientOptions = {
  /** The broker's issuer URL, exactly as its metadata names it (no trailing slash unless the broker has one). */
  issuer: string;
  /** This agent's id in the broker's policy. */
  agentId: string;
  /** The agent's registered private key: a private JWK (EC P-256 or Ed25519) or a CryptoKey. Never leaves this process. */
  key: AgentKey;
  /** The `kid` to name when `key` is a CryptoKey (a JWK's own `kid` is used otherwise). */
  keyId?: string;
  /** Default: the global `fetch`. */
  fetch?: FetchLike;
  /** Default: real time. Tests pass a fake clock. */
  clock?: Clock;
  /** Default 30: a cached token is replaced this many seconds before it expires (at most half its lifetime). */
  refreshBeforeExpirySeconds?: number;
  /** Allow an `http:` issuer that is not loopback (a private network you trust). Assertions are bearer proofs for a minute. */
  allowInsecureHttp?: boolean;
  /**
   * Sender-constrained tokens (DPoP, RFC 9449): each token request carries a proof, so the broker binds the token to
   * this client's key and a stolen token is useless. `true`: a fresh non-extractable ES256 key per client;
   * `{ key }`: your own key pair. Services then need a proof per call: `authHeaders()` or `dpopProof()`.
   */
  dpop?: boolean | DpopKeyOptions;
};

/**
 * An agent's client for a Writ broker: discovery (RFC 8414), private_key_jwt (RFC 7523), token exchange
 * (RFC 8693), a cache per request, and human approval (OpenID CIBA, poll mode) when the policy asks for one.
 *
 * Token exchange rather than client_credentials: the same grant carries a registered key today and a federated
 * workload token or a delegation (`actor_token`) tomorrow, and its answer names the issued token type.
 *
 * @example
 * import { WritClient } from "@writ/agent";
 *
 * const writ = new WritClient({ issuer: "https://writ.example.com", agentId: "support-bot", key: privateJwk });
 * const { accessToken } = await writ.token({
 *   useCase: "crm.customers.read",
 *   intent: "look up the customer on ticket SUP-42",
 *   context: { ticket: "SUP-42" },
 *   onPending: ({ expiresIn }) => console.log(`waiting up to ${expiresIn} s for a human to approve`),
 * });
 * await fetch("https://crm.example.com/customers?limit=10", { headers: { authorization: `Bearer ${accessToken}` } });
 *
 * @example
 * // DPoP (RFC 9449): tokens bound to this client's key, a proof with every call.
 * const bound = new WritClient({ issuer, agentId: "support-bot", key: privateJwk, dpop: true });
 * const token = await bound.token({ useCase: "crm.customers.read" });
 * const url = "https://crm.example.com/customers?limit=10";
 * await fetch(url, { headers: await bound.authHeaders(token, { method: "GET", url }) });
 */
export class WritClient {
  readonly issuer: string;
  readonly agentId: string;
  readonly #key: AgentKey;
  readonly #keyId: string | undefined;
  readonly #fetch: FetchLike;
  readonly #clock: Clock;
  readonly #refreshMs: number;
  readonly #cache = new TokenCache();
  #signingKey: Promise<SigningKey> | undefined;
  #metadata: { promise: Promise<BrokerMetadata>; fetchedAt: number } | undefined;
  readonly #dpopOptions: DpopKeyOptions | undefined;
  #dpopKey: Promise<DpopKey> | undefined;

  constructor(options: WritClientOptions) {
    if (typeof options !== "object" || options === null) throw new TypeError("new WritClient({ issuer, agentId, key })");
    const { issuer, agentId, key } = options;
    checkIssuer(issuer, options.allowInsecureHttp === true);
    if (typeof agentId !== "string" || agentId.length === 0) throw new TypeError("WritClient: `agentId` must be the agent's id");
    agentKeyAlgorithm(key);
    const refresh = options.refreshBeforeExpirySeconds ?? DEFAULT_REFRESH_BEFORE_EXPIRY_SECONDS;
    if (typeof refresh !== "number" || !(refresh >= 0)) throw new TypeError("WritClient: `refreshBeforeExpirySeconds` must be >= 0");
    if (options.fetch !== undefined && typeof options.fetch !== "function") throw new TypeError("WritClient: `fetch` must be a function");
    this.issuer = issuer;
    this.agentId = agentId;
    this.#key = key;
    this.#keyId = options.keyId ?? (isJwk(key) && typeof key.kid === "string" ? key.kid : undefined);
    this.#fetch = options.fetch ?? ((url, init) => fetch(url, init));
    this.#clock = options.clock ?? systemClock;
    this.#refreshMs = refresh * 1000;
    const { dpop } = options;
    if (dpop !== undefined && typeof dpop !== "boolean" && (typeof dpop !== "object" || dpop === null))
      throw new TypeError("WritClient: `dpop` is true or { key: CryptoKeyPair }");
    this.#dpopOptions = dpop === true ? {} : dpop === false || dpop === undefined ? undefined : dpop;
  }

  /** True when this client asks for DPoP-bound tokens. */
  get dpop(): boolean {
    return this.#dpopOptions !== undefined;
  }

  /**
   * A DPoP proof (RFC 9449 §4) for one call to a service with a bound token: signed by this client's DPoP key, for
   * `method` and `url`, with `ath` of `accessToken`. Make a new one for every request (each is accepted once).
   * Throws a `TypeError` when the client was created without `dpop`.
   *
   * @example
   * const proof = await writ.dpopProof("GET", url, token.accessToken);
   * await fetch(url, { headers: { authorization: `DPoP ${token.accessToken}`, dpop: proof } });
   */
  async dpopProof(method: string, url: string, accessToken?: string): Promise<string> {
    if (typeof method !== "string" || method.length === 0) throw new TypeError("dpopProof(): `method` must be an HTTP method");
    if (typeof url !== "string" || !URL.canParse(url)) throw new TypeError("dpopProof(): `url` must be an absolute URL");
    return (await this.#requireDpopKey()).proof(method, url, accessToken, this.#clock.now());
  }

  /**
   * The headers that present `token` to a service for one request: `Authorization: DPoP` with a fresh proof for a
   * bound token, `Authorization: Bearer` otherwise.
   *
   * @example
   * const token = await writ.token({ useCase: "crm.customers.read" });
   * const url = "https://crm.example.com/customers?limit=10";
   * await fetch(url, { headers: await writ.authHeaders(token, { method: "GET", url }) });
   */
  async authHeaders(token: WritToken, request: { method: string; url: string }): Promise<Record<string, string>> {
    if (token.tokenType.toLowerCase() !== "dpop") return { authorization: `Bearer ${token.accessToken}` };
    return { authorization: `DPoP ${token.accessToken}`, dpop: await this.dpopProof(request.method, request.url, token.accessToken) };
  }

  /** This client's DPoP key (made on first use), or undefined without `dpop`. */
  async #dpopKeyOrNone(): Promise<DpopKey | undefined> {
    if (this.#dpopOptions === undefined) return undefined;
    const options = this.#dpopOptions;
    this.#dpopKey ??= createDpopKey(options);
    // A failed key creation is not kept: the next call tries again.
    this.#dpopKey.catch(() => {
      this.#dpopKey = undefined;
    });
    return this.#dpopKey;
  }

  async #requireDpopKey(): Promise<DpopKey> {
    const key = await this.#dpopKeyOrNone();
    if (key === undefined) throw new TypeError("WritClient: create the client with `dpop: true` to make DPoP proofs");
    return key;
  }

  /** The DPoP header for a POST to the token endpoint, or nothing without `dpop`. */
  async #tokenEndpointHeaders(tokenEndpoint: string, nowMs: number): Promise<Record<string, string>> {
    const key = await this.#dpopKeyOrNone();
    return key === undefined ? {} : { dpop: await key.proof("POST", tokenEndpoint, undefined, nowMs) };
  }

  /**
   * A token for one use case: from the cache while it is good, else from the broker. When the use case needs a
   * human approval the call starts one, tells `onPending`, and resolves once the approvers agree (or rejects with
   * `WritApprovalDenied` / `WritApprovalExpired`). Concurrent calls for the same request share one round trip.
   *
   * @example
   * const token = await writ.token({ useCase: "billing.invoices.refund", intent: "refund INV-42 (charged twice)",
   *   onPending: () => say("A human must approve this refund; I will continue once they do."),
   *   signal: AbortSignal.timeout(10 * 60_000) });
   */
  async token(request: TokenRequest & TokenCallOptions): Promise<WritToken> {
    checkTokenRequest(request);
    checkCallOptions(request);
    const wanted: TokenRequest = copyRequest(request);
    const key = cacheKey(wanted);
    if (request.fresh !== true) {
      const cached = this.#cache.fresh(key, this.#clock.now());
      if (cached !== undefined) return cached;
    }
    const approval = request.approval ?? "wait";
    return this.#cache.share(
      `${approval}:${key}`,
      async (signal, notify) => {
        const token = await this.#ask(wanted, { approval, bindingMessage: request.bindingMessage, signal, notify });
        this.#cache.store(key, token, this.#clock.now(), this.#refreshMs);
        return token;
      },
      { signal: request.signal, onPending: request.onPending },
    );
  }

  /**
   * The broker's metadata (RFC 8414), fetched once and kept for an hour; a failure is not kept.
   *
   * @example
   * const { token_endpoint } = await writ.metadata();
   */
  metadata(options: { signal?: AbortSignal } = {}): Promise<BrokerMetadata> {
    const now = this.#clock.now();
    if (this.#metadata === undefined || now - this.#metadata.fetchedAt > METADATA_MAX_AGE_MS) {
      const promise = discoverBroker(this.issuer, { fetch: this.#fetch, ...(options.signal ? { signal: options.signal } : {}) });
      const entry = { promise, fetchedAt: now };
      this.#metadata = entry;
      promise.catch(() => {
        if (this.#metadata === entry) this.#metadata = undefined;
      });
    }
    return this.#metadata.promise;
  }

  /**
   * Forgets every cached token (e.g. after the service said a token was revoked).
   *
   * @example
   * writ.clearCache();
   */
  clearCache(): void {
    this.#cache.clear();
  }

  async #ask(
    request: TokenRequest,
    call: {
      approval: "wait" | "fail";
      bindingMessage: string | undefined;
      signal: AbortSignal;
      notify: (pending: PendingApproval) => void | Promise<void>;
    },
  ): Promise<WritToken> {
    const { signal } = call;
    const metadata = await this.metadata({ signal });
    const caller: Caller = { issuer: this.issuer, agentId: this.agentId, keyId: this.#keyId, useCase: request.useCase };
    const sentAt = this.#clock.now();
    const form = tokenExchangeForm(this.agentId, await this.#assertion(), request);
    const headers = await this.#tokenEndpointHeaders(metadata.token_endpoint, sentAt);
    const reply = await postForm(this.#fetch, metadata.token_endpoint, form, { signal, nowMs: sentAt, headers });
    if (reply.ok) return parseTokenResponse(reply.body, sentAt, reply.requestId);
    if (reply.refusal.error !== "approval_required" || call.approval === "fail") throw refusalError(reply.refusal, "token", caller);

    const endpoint = metadata.backchannel_authentication_endpoint;
    if (endpoint === undefined)
      throw new WritDiscoveryFailed(
        `use case "${request.useCase}" needs approval, but the broker names no backchannel_authentication_endpoint`,
      );
    const startedAt = this.#clock.now();
    const started = await postForm(
      this.#fetch,
      endpoint,
      backchannelForm(this.agentId, await this.#assertion(), request, call.bindingMessage),
      {
        signal,
        nowMs: startedAt,
      },
    );
    if (!started.ok) throw refusalError(started.refusal, "backchannel", caller);
    return pollForApprovedToken(
      {
        fetch: this.#fetch,
        clock: this.#clock,
        tokenEndpoint: metadata.token_endpoint,
        caller: { ...caller, useCase: request.useCase },
        intent: request.intent,
        sign: () => this.#assertion(),
        headers: (nowMs) => this.#tokenEndpointHeaders(metadata.token_endpoint, nowMs),
        onPending: call.notify,
        signal,
      },
      parseBackchannelResponse(started.body, started.requestId),
      startedAt,
    );
  }

  /** A fresh assertion for the issuer: one per request, since the broker burns each `jti`. */
  async #assertion(): Promise<string> {
    this.#signingKey ??= agentSigningKey(this.#key, this.#keyId);
    return signAssertion(await this.#signingKey, {
      agentId: this.agentId,
      audience: this.issuer,
      lifetimeSeconds: DEFAULT_ASSERTION_LIFETIME_SECONDS,
      nowMs: this.#clock.now(),
    });
  }
}

/** RFC 8414 §2: an https URL without query or fragment. Plain http only on loopback, unless the caller insists. */
function checkIssuer(issuer: unknown, allowInsecureHttp: boolean): asserts issuer is string {
  if (typeof issuer !== "string" || !URL.canParse(issuer)) throw new TypeError("WritClient: `issuer` must be the broker's issuer URL");
  const url = new URL(issuer);
  if (url.search !== "" || url.hash !== "" || issuer.includes("?") || issuer.includes("#"))
    throw new TypeError("WritClient: `issuer` has no query or fragment (RFC 8414 §2)");
  if (url.protocol === "https:") return;
  if (url.protocol === "http:" && (LOOPBACK_HOSTS.has(url.hostname) || allowInsecureHttp)) return;
  throw new TypeError(`WritClient: \`issuer\` must be https (http only on localhost, or with allowInsecureHttp), not ${url.protocol}`);
}

function checkCallOptions(options: TokenCallOptions): void {
  if (options.onPending !== undefined && typeof options.onPending !== "function")
    throw new TypeError("token(): `onPending` must be a function");
  if (options.approval !== undefined && options.approval !== "wait" && options.approval !== "fail")
    throw new TypeError('token(): `approval` is "wait" or "fail"');
  if (options.bindingMessage !== undefined && typeof options.bindingMessage !== "string")
    throw new TypeError("token(): `bindingMessage` must be a string");
}

/** Only the fields that define the request, copied: a caller mutating its arrays later changes nothing cached. */
function copyRequest(request: TokenRequest): TokenRequest {
  return {
    useCase: request.useCase,
    ...(request.intent === undefined ? {} : { intent: request.intent }),
    ...(request.context === undefined ? {} : { context: { ...request.context } }),
    ...(request.resource === undefined ? {} : { resource: request.resource }),
    ...(request.actions === undefined ? {} : { actions: [...request.actions] }),
    ...(request.locations === undefined ? {} : { locations: [...request.locations] }),
  };
}

function isJwk(key: AgentKey): key is Exclude<AgentKey, CryptoKey> {
  return !(typeof CryptoKey !== "undefined" && key instanceof CryptoKey);
}
