/**
 * What a service sees of a delegated token (docs/delegation.md): `actors`, the `act` chain nearest first, on the grant
 * and on `c.var.writ`, and the options that refuse delegated tokens or chains longer than a service accepts.
 */
import { Hono } from "hono";
import { beforeAll, describe, expect, it } from "vitest";
import { writAuth } from "../../verifier/hono.ts";
import { createVerifier, type Verifier, WritVerifyError } from "../../verifier/index.ts";
import { jwksOf, signToken, type TestKey, testKey } from "../support/access-tokens.ts";
import { ISSUER } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { bearer } from "../support/http.ts";

let key: TestKey;
let verifier: Verifier;

beforeAll(async () => {
  key = await testKey("writ-1");
  verifier = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key) });
});

const TWO_HOPS = { sub: "report-bot", act: { sub: "billing-agent" } };
const delegated = (act: unknown = TWO_HOPS) => signToken(key, { claims: { act, client_id: "report-bot" } });

async function refusal(promise: Promise<unknown>): Promise<WritVerifyError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WritVerifyError);
  return error as WritVerifyError;
}

describe("a delegated token at the verifier", () => {
  it("names the subject as agent and the actors nearest first", async () => {
    const grant = await verifier.verify(await delegated(), { scope: CUSTOMERS_READ });
    expect(grant.agent).toBe("support-bot");
    expect(grant.actors).toEqual(["report-bot", "billing-agent"]);
    expect(grant.clientId).toBe("report-bot");
    expect(Object.isFrozen(grant.actors)).toBe(true);
  });

  it("gives a token the agent got for itself no actors", async () => {
    expect((await verifier.verify(await signToken(key))).actors).toEqual([]);
  });

  it("hands the chain to a Hono route as c.var.writ.actors", async () => {
    const app = new Hono();
    app.get("/customers", writAuth({ verifier, scope: CUSTOMERS_READ }), (c) =>
      c.json({ agent: c.var.writ.agent, actors: c.var.writ.actors }),
    );
    const res = await app.request("/customers", bearer(await delegated()));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agent: "support-bot", actors: ["report-bot", "billing-agent"] });
  });

  it("is refused where the service accepts no delegated tokens, and a direct one still passes", async () => {
    const strict = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key), delegation: { accept: false } });
    const error = await refusal(strict.verify(await delegated({ sub: "billing-agent" })));
    expect(error.code).toBe("ERR_WRIT_DELEGATION_REFUSED");
    expect(error.message).toBe("delegated tokens are not accepted");
    expect((await strict.verify(await signToken(key))).agent).toBe("support-bot");
  });

  it("is refused when its chain is longer than maxDepth", async () => {
    const oneHop = createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key), delegation: { maxDepth: 1 } });
    expect((await oneHop.verify(await delegated({ sub: "billing-agent" }))).actors).toEqual(["billing-agent"]);
    const error = await refusal(oneHop.verify(await delegated()));
    expect([error.code, error.message]).toEqual(["ERR_WRIT_DELEGATION_REFUSED", "2 actors, at most 1 accepted"]);
  });

  it("is refused when its act claim is not a chain of agent ids", async () => {
    for (const act of ["billing-agent", { sub: "" }, { act: { sub: "x" } }, [{ sub: "x" }]])
      expect((await refusal(verifier.verify(await delegated(act)))).code).toBe("ERR_WRIT_CLAIMS_INVALID");
  });

  it("refuses bad delegation options at creation", () => {
    for (const delegation of [{ maxDepth: 0 }, { maxDepth: 1.5 }, { accept: "no" }, null])
      expect(() => createVerifier({ issuer: ISSUER, audience: CRM_API, jwks: jwksOf(key), delegation: delegation as never })).toThrow(
        TypeError,
      );
  });
});
