import type { AgentLedger, IssueAnswer, IssueCall, IssueResult } from "../../durable-objects/agent-ledger.ts";
import { KeyedBatcher, type Settled } from "../../lib/keyed-batcher.ts";
import type { GrantContext } from "./grant-context.ts";

/** A ledger's answer to one call, and how many calls shared its round trip (the log line's `ledger_batch`). */
export type LedgerAnswer = { result: IssueResult; batch: number };

/**
 * Concurrent token requests of one agent in this isolate share ledger round trips (issue #15: a round trip cost
 * about as much CPU as verifying and signing together). A request finding none of its agent's under way goes at
 * once; those arriving meanwhile go together as soon as it has returned. So an idle broker waits for nothing and a
 * busy one sends fewer, larger calls. Nothing a token guarantees changes: the ledger runs each call as its own `issue`,
 * in order, in one transaction, and answers only once that is durable. A call that waits 10 s fails with a 500, as
 * a lost reply would.
 */
const ledgerIssues = new KeyedBatcher<IssueCall, LedgerAnswer>({ maxBatch: 64, deadlineMs: 10_000 });

/** `AgentLedger.issue` on `agentId`'s ledger, batched with the other calls for that ledger under way in this isolate. */
export async function issueInLedger(
  ctx: Pick<GrantContext, "env" | "waitUntil" | "batchLedgerCalls">,
  agentId: string,
  call: IssueCall,
): Promise<LedgerAnswer> {
  const ledger = () => ctx.env.AGENT_LEDGER.getByName(agentId);
  if (!ctx.batchLedgerCalls) return { result: await issueOne(ledger(), call), batch: 1 };
  const send = async (calls: IssueCall[]): Promise<Settled<LedgerAnswer>[]> => {
    // A call going alone takes the plain method: nothing to fan out.
    if (calls.length === 1) return [{ ok: true, value: { result: await issueOne(ledger(), calls[0] as IssueCall), batch: 1 } }];
    return (await ledger().issueMany(calls)).map((answer) => settled(answer, calls.length));
  };
  return ledgerIssues.call(agentId, call, ctx.waitUntil ? { send, keepAlive: ctx.waitUntil } : { send });
}

function issueOne(ledger: DurableObjectStub<AgentLedger>, { proofs, charge, rules, now, audit, parent }: IssueCall): Promise<IssueResult> {
  return ledger.issue(proofs, charge, rules, now, audit, parent);
}

function settled(answer: IssueAnswer, batch: number): Settled<LedgerAnswer> {
  return answer.ok === false && answer.reason === "thrown"
    ? { ok: false, error: new Error(answer.message) }
    : { ok: true, value: { result: answer, batch } };
}
