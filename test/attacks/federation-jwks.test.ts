/**
 * A trusted issuer's remote key set as the broker caches it (worker/identity/remote-jwks.ts), from the attacker's
 * side: tokens with made-up kids must not make the broker fetch the issuer's JWKS on every request (one refetch per
 * cooldown), and an issuer that never answers must cost a request the fetch deadline at most, then nothing.
 * The issuer is an in-isolate fetch function serving a real key set (workerd tests cannot listen on a port; the
 * same behaviour against a real HTTP issuer and a real broker is in test/e2e/workload-identity.test.ts).
 */
import { errors, exportJWK, generateKeyPair, type JWK } from "jose";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { IssuerUnreachableError } from "../../core/identity/federation.ts";
import { clearRemoteJwks, remoteJwks } from "../../worker/identity/remote-jwks.ts";

const JWKS_URI = "https://issuer.example.com/.well-known/jwks";
const TOKEN = { payload: "", signature: "" };
const header = (kid: string) => ({ alg: "RS256", kid });

let keyA: JWK;
let keyB: JWK;

beforeAll(async () => {
  const publicJwk = async (kid: string) => ({ ...(await exportJWK((await generateKeyPair("RS256")).publicKey)), kid, alg: "RS256" });
  [keyA, keyB] = await Promise.all([publicJwk("a"), publicJwk("b")]);
});

beforeEach(() => clearRemoteJwks());

/** An issuer publishing `keys()`, counting the fetches it gets. */
function issuer(keys: () => JWK[]) {
  const served = { fetches: 0 };
  const fetch = async (url: string) => {
    served.fetches++;
    expect(url).toBe(JWKS_URI);
    return Response.json({ keys: keys() });
  };
  return { served, fetch };
}

describe("unknown kids", () => {
  it("refetches once for a kid the issuer has just rotated in, when the cooldown has passed", async () => {
    let published = [keyA];
    const { served, fetch } = issuer(() => published);
    const getKey = remoteJwks(JWKS_URI, { fetch, cooldownMs: 0 });
    await getKey(header("a"), TOKEN);
    published = [keyA, keyB];
    await expect(getKey(header("b"), TOKEN)).resolves.toBeDefined();
    expect(served.fetches).toBe(2);
  });

  it("within the cooldown, refuses a burst of made-up kids without fetching again", async () => {
    const { served, fetch } = issuer(() => [keyA]);
    const getKey = remoteJwks(JWKS_URI, { fetch, cooldownMs: 60_000 });
    await getKey(header("a"), TOKEN);
    for (let i = 0; i < 20; i++) await expect(getKey(header(`forged-${i}`), TOKEN)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(served.fetches).toBe(1);
  });

  it("keeps the cached keys for their lifetime: many lookups, one fetch", async () => {
    const { served, fetch } = issuer(() => [keyA]);
    const getKey = remoteJwks(JWKS_URI, { fetch });
    for (let i = 0; i < 10; i++) await getKey(header("a"), TOKEN);
    expect(served.fetches).toBe(1);
  });
});

describe("an unreachable issuer", () => {
  it("gives up at the deadline when the issuer never answers, then fails fast without asking again", async () => {
    let fetches = 0;
    const hanging = (_url: string, init: RequestInit) => {
      fetches++;
      // Answers nothing, ever; only the broker's deadline (jose's AbortSignal.timeout) ends the wait.
      return new Promise<Response>((_, reject) => init.signal?.addEventListener("abort", () => reject(init.signal?.reason)));
    };
    const getKey = remoteJwks(JWKS_URI, { fetch: hanging, timeoutMs: 100, backoffMs: 60_000 });
    await expect(getKey(header("a"), TOKEN)).rejects.toThrow(new IssuerUnreachableError(`${JWKS_URI}: timed out`));
    await expect(getKey(header("a"), TOKEN)).rejects.toBeInstanceOf(IssuerUnreachableError);
    expect(fetches).toBe(1);
  });

  it.each<[string, () => Promise<Response>]>([
    ["a refused connection", () => Promise.reject(new TypeError("Network connection lost."))],
    ["a 500", async () => new Response("oops", { status: 500 })],
    ["a redirect (never followed)", async () => new Response(null, { status: 302, headers: { location: "https://evil.example/jwks" } })],
    ["an HTML page", async () => new Response("<html>maintenance</html>", { headers: { "content-type": "text/html" } })],
    ["JSON that is not a key set", async () => Response.json({ keys: "none" })],
  ])("reports %s as IssuerUnreachableError, not as a bad token", async (_, answer) => {
    const getKey = remoteJwks(JWKS_URI, { fetch: answer });
    await expect(getKey(header("a"), TOKEN)).rejects.toBeInstanceOf(IssuerUnreachableError);
  });

  it("tries again once the backoff has passed, and recovers", async () => {
    let up = false;
    const flaky = async () => (up ? Response.json({ keys: [keyA] }) : new Response("down", { status: 503 }));
    const getKey = remoteJwks(JWKS_URI, { fetch: flaky, backoffMs: 0 });
    await expect(getKey(header("a"), TOKEN)).rejects.toBeInstanceOf(IssuerUnreachableError);
    up = true;
    await expect(getKey(header("a"), TOKEN)).resolves.toBeDefined();
  });
});
