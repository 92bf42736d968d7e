// An agent meeting each answer a Writ broker gives: a token, the same token from the cache, a policy denial, and a
// human approval it waits for. Plain JavaScript on the published package: Node >= 20, no TypeScript, no bundler.
//
//   npm install @writ/agent   (or the tarball of `npm pack ./client`)
//   WRIT_ISSUER=http://localhost:8787 WRIT_AGENT_KEYS=policy/demo-agent-keys.json node walkthrough.mjs
//
// Prints one JSON line per step. The approval step waits until two approvers approve (locally: /dev/outbox).
import { readFileSync } from "node:fs";
import { WritClient, WritDenied } from "@writ/agent";

const issuer = process.env.WRIT_ISSUER ?? "http://localhost:8787";
const keys = JSON.parse(readFileSync(process.env.WRIT_AGENT_KEYS ?? "policy/demo-agent-keys.json", "utf8"));
const run = process.env.WRIT_RUN ?? new Date().toISOString();
const say = (step, fields = {}) => console.log(JSON.stringify({ step, ...fields }));

say("start", { node: process.version });

const support = new WritClient({ issuer, agentId: "support-bot", key: keys["support-bot"] });
const request = { useCase: "crm.customers.read", intent: `look up the customer on ticket SUP-42 (${run})` };
const token = await support.token(request);
say("token", { scope: token.scope, tokenType: token.tokenType, secondsLeft: Math.round((token.expiresAt - Date.now()) / 1000) });
say("cached", { same: (await support.token(request)) === token });

try {
  await support.token({ useCase: "crm.customers.export", intent: `export the customers (${run})` });
  say("denial", { refused: false });
} catch (error) {
  if (!(error instanceof WritDenied)) throw error;
  say("denial", { refused: true, code: error.code, error: error.error, rule: error.rule, requestId: error.requestId });
}

const billing = new WritClient({ issuer, agentId: "billing-agent", key: keys["billing-agent"] });
const approved = await billing.token({
  useCase: "billing.invoices.refund",
  intent: `refund invoice INV-42, charged twice (${run})`,
  signal: AbortSignal.timeout(120_000),
  onPending: ({ polls, interval, expiresIn }) => {
    if (polls === 0) say("pending", { interval, expiresIn });
  },
});
say("approved", { scope: approved.scope, tokenType: approved.tokenType });
