/**
 * Delegation end to end (docs/delegation.md): a real broker started from Node with a policy where billing-agent may
 * act for support-bot, openid-client (an OAuth client nobody here wrote) sending the RFC 8693 exchange with a Writ
 * token as subject_token, and the published verifier reading the `act` chain from the broker's real JWKS.
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signAgentAssertion } from "../../client/index.ts";
import { type Broker, startBroker } from "../../scripts/local-broker.ts";
import { PROJECT_ROOT } from "../../scripts/policy-path.ts";
import { createVerifier } from "../../verifier/index.ts";
import { type AgentId, agentPrivateJwk, agentSigningKey } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_TABLE } from "../support/demo-policy.ts";
import { ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE } from "../support/oauth.ts";
import { connectAgent } from "../support/openid-client.ts";
import { rejectionOf } from "../support/rejection.ts";

const LOOKUP = "crm.customers.lookup";
const ORDERS_TABLE = "https://crm.example.com/tables/orders";

let broker: Broker;

beforeAll(async () => {
  const demo = JSON.parse(readFileSync(join(PROJECT_ROOT, "policy/demo.policy.json"), "utf8")) as { use_cases: { id: string }[] };
  // Written out here (the demo policy has one like it), so this test does not depend on the demo file's use case.
  const lookup = {
    id: LOOKUP,
    description: "Look up customers and their orders; billing-agent may act for support-bot, report-bot for billing-agent.",
    audiences: [CRM_API],
    actions: ["read", "list"],
    locations: [CUSTOMERS_TABLE, ORDERS_TABLE],
    limits: { max_rows: 10 },
    agents: ["support-bot", "billing-agent", "report-bot"],
    delegation: { actors: { "support-bot": ["billing-agent"], "billing-agent": ["report-bot"] }, max_depth: 2 },
  };
  const policy = { ...demo, use_cases: [...demo.use_cases.filter((u) => u.id !== LOOKUP), lookup] };
  const policyPath = join(tmpdir(), `writ-delegation-${process.pid}.policy.json`);
  await writeFile(policyPath, JSON.stringify(policy));
  broker = await startBroker({ alias: { "writ-policy": policyPath } });
});

afterAll(async () => {
  await broker?.dispose();
});

async function connect(agentId: AgentId, auth?: client.ClientAuth) {
  return connectAgent(broker.url, agentId, auth ?? client.PrivateKeyJwt(await agentSigningKey(agentId)));
}

function assertion(agentId: AgentId): Promise<string> {
  return signAgentAssertion({ agentId, privateJwk: agentPrivateJwk(agentId), audience: broker.url });
}

/** support-bot's own token for the use case, narrowed to reading. */
async function subjectToken(): Promise<string> {
  const agent = await connect("support-bot");
  const response = await client.clientCredentialsGrant(agent.config, {
    authorization_details: JSON.stringify([{ type: "agent_use_case", use_case: LOOKUP, actions: ["read"] }]),
  });
  return response.access_token;
}

describe("delegation with openid-client (RFC 8693 actor_token, act)", () => {
  it("lets billing-agent act for support-bot, and the verifier sees who acts for whom", async () => {
    const subject = await subjectToken();
    // The actor authenticates with its own actor_token (a public client naming itself), as RFC 8693 §2.1 describes.
    const actor = await connect("billing-agent", client.None());
    const response = await client.genericGrantRequest(actor.config, TOKEN_EXCHANGE, {
      subject_token: subject,
      subject_token_type: ACCESS_TOKEN_TYPE,
      actor_token: await assertion("billing-agent"),
      actor_token_type: JWT_TOKEN_TYPE,
      scope: LOOKUP,
    });
    expect(response).toMatchObject({ token_type: "bearer", issued_token_type: ACCESS_TOKEN_TYPE, scope: LOOKUP });

    const verifier = createVerifier({ issuer: broker.url, audience: CRM_API, jwksUri: `${broker.url}/.well-known/jwks.json` });
    const grant = await verifier.verify(response.access_token, { scope: LOOKUP });
    expect({ agent: grant.agent, actors: grant.actors, clientId: grant.clientId, actions: grant.actions }).toEqual({
      agent: "support-bot",
      actors: ["billing-agent"],
      clientId: "billing-agent",
      actions: ["read"],
    });
    expect(grant.expiresAt.getTime()).toBeLessThanOrEqual((await verifier.verify(subject)).expiresAt.getTime());

    // A second hop, authenticated with private_key_jwt alone; a service that takes one actor at most refuses it.
    const second = await client.genericGrantRequest((await connect("report-bot")).config, TOKEN_EXCHANGE, {
      subject_token: response.access_token,
      subject_token_type: ACCESS_TOKEN_TYPE,
      scope: LOOKUP,
    });
    expect((await verifier.verify(second.access_token)).actors).toEqual(["report-bot", "billing-agent"]);
    const oneHop = createVerifier({
      issuer: broker.url,
      audience: CRM_API,
      jwksUri: `${broker.url}/.well-known/jwks.json`,
      delegation: { maxDepth: 1 },
    });
    await expect(oneHop.verify(second.access_token)).rejects.toMatchObject({ code: "ERR_WRIT_DELEGATION_REFUSED" });
  });

  it("refuses an actor the policy does not name, and a widening, with the RFC 6749 errors openid-client surfaces", async () => {
    const subject = await subjectToken();
    const stranger = await rejectionOf(
      client.genericGrantRequest((await connect("report-bot")).config, TOKEN_EXCHANGE, {
        subject_token: subject,
        subject_token_type: ACCESS_TOKEN_TYPE,
        scope: LOOKUP,
      }),
      client.ResponseBodyError,
    );
    expect([stranger.status, stranger.error]).toEqual([403, "access_denied"]);

    const wider = await rejectionOf(
      client.genericGrantRequest((await connect("billing-agent")).config, TOKEN_EXCHANGE, {
        subject_token: subject,
        subject_token_type: ACCESS_TOKEN_TYPE,
        authorization_details: JSON.stringify([{ type: "agent_use_case", use_case: LOOKUP, actions: ["list"] }]),
      }),
      client.ResponseBodyError,
    );
    expect([wider.status, wider.error, wider.error_description]).toEqual([
      400,
      "invalid_authorization_details",
      'delegation may only narrow: action "list" is not granted by the subject_token',
    ]);
  });
});
