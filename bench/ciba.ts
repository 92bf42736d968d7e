/**
 * Approved CIBA requests for the "collect an approved request" scenario, made through the same flow a person
 * uses: the agent asks at /bc-authorize, the broker mails the approver (captured by the local broker's dev
 * outbox), the approver opens the link and approves on the page with its nonce. What the timed run then measures
 * is the agent's one poll of /token that collects each token.
 */
import { type BenchAgent, signAssertion } from "./agents.ts";

/** The bench policy's use case that needs one approval by the link alone (bench/bench-policy.ts). */
export const APPROVAL_USE_CASE = "crm.customers.read.approved";
export const BENCH_APPROVER = "bench-approver@example.com";
const FORM = { "content-type": "application/x-www-form-urlencoded" };
const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const MAIL_ATTEMPTS = 50;

export type ApprovedRequest = { agent: BenchAgent; authReqId: string };

/**
 * `count` approved requests, made by `agents.length` workers at once, each with its own agent (an agent may hold
 * only a few open requests; a worker approves each before opening the next).
 */
export async function approvedRequests(baseUrl: string, agents: readonly BenchAgent[], count: number): Promise<ApprovedRequest[]> {
  const approved: ApprovedRequest[] = [];
  let started = 0;
  await Promise.all(
    agents.map(async (agent) => {
      while (started < count) {
        started++;
        approved.push({ agent, authReqId: await approveOne(baseUrl, agent, approved.length) });
      }
    }),
  );
  return approved;
}

/** The agent's poll that collects the token of an approved request, with a fresh client assertion. */
export function collectBody(request: ApprovedRequest, audience: string, nowSeconds: number): string {
  return new URLSearchParams({
    grant_type: "urn:openid:params:grant-type:ciba",
    auth_req_id: request.authReqId,
    client_id: request.agent.id,
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: signAssertion(request.agent, audience, nowSeconds),
  }).toString();
}

async function approveOne(baseUrl: string, agent: BenchAgent, n: number): Promise<string> {
  const started = await call(`${baseUrl}/bc-authorize`, {
    method: "POST",
    headers: FORM,
    body: new URLSearchParams({
      client_id: agent.id,
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: signAssertion(agent, baseUrl, Math.floor(Date.now() / 1000)),
      scope: APPROVAL_USE_CASE,
      // Distinct requests: identical open ones would be merged into one.
      intent: `bench export ${n} ${crypto.randomUUID()}`,
    }).toString(),
  });
  const { auth_req_id: authReqId } = (await started.json()) as { auth_req_id: string };
  const approvalId = authReqId.split(".")[0] as string;
  // The link, as the approver received it; its origin is the configured APPROVAL_ORIGIN, so only its path is used.
  const link = new URL(await mailedLink(baseUrl, approvalId));
  const page = await (await call(`${baseUrl}${link.pathname}${link.search}`)).text();
  const nonce = /name="nonce" value="([^"]+)"/.exec(page)?.[1];
  if (nonce === undefined) throw new Error(`no nonce on the approval page of ${approvalId}`);
  await call(`${baseUrl}${link.pathname}`, {
    method: "POST",
    headers: FORM,
    body: new URLSearchParams({ t: link.searchParams.get("t") ?? "", nonce, decision: "approve" }).toString(),
  });
  return authReqId;
}

async function mailedLink(baseUrl: string, approvalId: string): Promise<string> {
  for (let attempt = 0; attempt < MAIL_ATTEMPTS; attempt++) {
    const response = await call(`${baseUrl}/dev/outbox.json?approval_id=${approvalId}&to=${encodeURIComponent(BENCH_APPROVER)}`);
    const { mails } = (await response.json()) as { mails: { link: string }[] };
    if (mails[0]) return mails[0].link;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no approval mail for ${approvalId} in the dev outbox`);
}

async function call(url: string, init?: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  if (!response.ok)
    throw new Error(`${init?.method ?? "GET"} ${new URL(url).pathname} answered ${response.status}: ${await response.text()}`);
  return response;
}
