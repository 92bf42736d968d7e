import * as z from "zod";
import { WritVerifyError } from "./errors.ts";
import { IntrospectionCache } from "./introspection-cache.ts";
import type { ResolvedIntrospection } from "./options.ts";

/**
 * RFC 7662 §2.2: `active` is the one required member. `jti` and `aud` are optional there, but when the broker sends
 * them they must be about the token we asked about: a proxy or cache that hands us another token's answer must not
 * be able to vouch for this one.
 */
const IntrospectionAnswerSchema = z.object({
  active: z.boolean(),
  jti: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
});

/** The parts of an offline-verified token that introspection needs. */
export type IntrospectedToken = { token: string; jti: string; audience: string; expiresAt: Date };

/**
 * Resolves when the broker says the (already offline-verified) token is still active; rejects with
 * `ERR_WRIT_TOKEN_INACTIVE` when it says it is not, and `ERR_WRIT_INTROSPECTION_UNAVAILABLE` when it gives no usable
 * answer. Fails closed: no answer is never read as "active".
 */
export type Introspector = (token: IntrospectedToken) => Promise<void>;

/**
 * The online half of a verifier: asks `/introspect` (RFC 7662) about a token, reusing an answer for the same `jti`
 * for `cacheSeconds` (never past the token's `exp`), and sending one request for concurrent verifications of one token.
 * `now` is there for tests; services get `Date.now`.
 *
 * @example
 * const introspect = createIntrospector(resolveOptions(options).introspection);
 * await introspect({ token, jti: grant.jti, audience: grant.audience, expiresAt: grant.expiresAt });
 */
export function createIntrospector(options: ResolvedIntrospection, now: () => number = Date.now): Introspector {
  const cache = new IntrospectionCache();
  const inFlight = new Map<string, Promise<boolean>>();

  async function ask(subject: IntrospectedToken): Promise<boolean> {
    const active = await requestAnswer(options, subject);
    const asOf = now();
    cache.set(subject.jti, active, Math.min(asOf + options.cacheSeconds * 1000, subject.expiresAt.getTime()), asOf);
    return active;
  }

  return async function introspect(subject: IntrospectedToken): Promise<void> {
    let active = cache.get(subject.jti, now());
    if (active === undefined) {
      let pending = inFlight.get(subject.jti);
      if (pending === undefined) {
        pending = ask(subject).finally(() => inFlight.delete(subject.jti));
        inFlight.set(subject.jti, pending);
      }
      active = await pending;
    }
    if (!active)
      throw new WritVerifyError(
        "ERR_WRIT_TOKEN_INACTIVE",
        "the issuer's introspection endpoint says the token is not active: revoked, its agent disabled since it was issued, " +
          "or the introspection credential belongs to another service",
      );
  };
}

async function requestAnswer(options: ResolvedIntrospection, subject: IntrospectedToken): Promise<boolean> {
  let response: Response;
  try {
    response = await options.fetch(options.endpoint.href, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${options.credential}`,
        "Content-Type": "application/x-www-form-urlencoded",
        Accept: "application/json",
      },
      body: new URLSearchParams({ token: subject.token, token_type_hint: "access_token" }).toString(),
      // A redirect would carry the service's credential somewhere else; an answer only counts from the endpoint itself.
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (cause) {
    throw unavailable("the introspection request failed (network error or timeout)", cause);
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    const hint = response.status === 401 ? " (is introspection.credential this service's secret at the broker?)" : "";
    throw unavailable(`the introspection endpoint answered HTTP ${response.status}${hint}`);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch (cause) {
    throw unavailable("the introspection answer is not JSON (or did not arrive in time)", cause);
  }
  const parsed = IntrospectionAnswerSchema.safeParse(body);
  if (!parsed.success) throw unavailable("the introspection answer has no boolean `active` (RFC 7662 §2.2)");
  const answer = parsed.data;
  if (!answer.active) return false;
  if (answer.jti !== undefined && answer.jti !== subject.jti) throw unavailable("the introspection answer is about another token (jti)");
  const audiences = answer.aud === undefined ? undefined : typeof answer.aud === "string" ? [answer.aud] : answer.aud;
  if (audiences !== undefined && !audiences.includes(subject.audience))
    throw unavailable("the introspection answer is about a token for another service (aud)");
  return true;
}

/** Not the token's fault and not a verdict on it: the service answers 503 and the agent retries later. */
function unavailable(detail: string, cause?: unknown): WritVerifyError {
  return new WritVerifyError("ERR_WRIT_INTROSPECTION_UNAVAILABLE", detail, cause === undefined ? undefined : { cause });
}
