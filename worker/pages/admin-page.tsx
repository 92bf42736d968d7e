import type { FC, PropsWithChildren } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { OVERFLOW, type Top } from "../../core/audit/noise.ts";
import type { AuditEventType } from "../../schemas/audit.ts";
import { SWITCH_REASON_MAX } from "../admin/agent-switch.ts";
import { NOISE_TOP_SHOWN, type Overview } from "../admin/load-overview.ts";
import { type AgentRow, type AgentStatus, type DecisionRow, type PendingRow, RECENT_TOKENS_SHOWN } from "../admin/overview.ts";
import { UsageCard } from "./admin-usage-chart.tsx";
import { ago, utc } from "./format.ts";
import { Layout, page, type RenderedPage } from "./layout.tsx";

/**
 * The admin overview: agents and budgets (with the kill switch), usage per hour, pending approvals, recent
 * decisions. Intents, reasons and ids come from agents and may hold markup (the layout escapes them). No script at
 * all, and nothing secret: approval requests are named by id only, never by an approver's link.
 *
 * On a phone (admin.css) every table turns into one card per row, each cell under its column's name (`data-label`),
 * so no column is ever off-screen.
 */

export type OverviewPageInput = {
  overview: Overview;
  admin: string;
  signOut: boolean;
  /** The agent whose kill switch was just thrown from this page (`?switched=`): its state now is shown on top. */
  switched?: string;
};

const AGENT_COLUMNS = ["Agent", "Status", "Budgets left", "Open requests", "Recent tokens", "Kill switch"] as const;
const PENDING_COLUMNS = ["Requested (UTC)", "Agent", "Use case", "Why (the agent's words)", "Approvals", "Expires", "Request id"] as const;
const DECISION_COLUMNS = ["Time (UTC)", "Event", "Agent", "Use case", "Decision", "Reason", "Why (the agent's words)"] as const;
const NOISE_COLUMNS = ["Most frequent in 24 h", "Reason", "Client network", "Agent claimed (unverified)"] as const;

export function renderOverview({ overview, admin, signOut, switched }: OverviewPageInput): RenderedPage {
  const { now, agents, pending, decisions, decisionsSince, noise, usage } = overview;
  const switchedAgent = agents.find((a) => a.id === switched);
  return page(
    200,
    <Layout title="Admin" mainClass="admin wide">
      <header class="admin-head">
        <div>
          <p class="eyebrow">Writ admin</p>
          <h1>Broker overview</h1>
          <p class="muted" id="signed-in">
            Signed in as {admin} · as of {utc(now)}
          </p>
        </div>
        {signOut && (
          <form method="post" action="/admin/sign-out" id="sign-out-form">
            <button type="submit" class="secondary">
              Sign out
            </button>
          </form>
        )}
      </header>
      {switchedAgent && <SwitchResult agent={switchedAgent} />}
      <section id="agents">
        <h2>Agents and budgets</h2>
        <Table head={AGENT_COLUMNS}>
          {agents.map((agent) => (
            <AgentLine agent={agent} now={now} />
          ))}
        </Table>
      </section>
      <section id="usage">
        <h2>Usage, last 24 hours</h2>
        <p class="muted">
          Tokens issued per hour, and the units they count against the daily budgets (what a service reported, or else the token's limits),
          hour by hour up to now (UTC).
        </p>
        <div class="usage-grid">
          {agents.map((agent) => {
            const chart = usage.get(agent.id);
            return chart && <UsageCard agentId={agent.id} name={agent.name} chart={chart} />;
          })}
        </div>
      </section>
      <section id="pending">
        <h2>Pending approvals ({pending.rows.length + pending.undescribed})</h2>
        {pending.rows.length === 0 && pending.undescribed === 0 ? (
          <p class="muted" id="no-pending">
            No approval request is waiting for a decision.
          </p>
        ) : (
          <Table head={PENDING_COLUMNS}>
            {pending.rows.map((row) => (
              <PendingLine row={row} now={now} />
            ))}
          </Table>
        )}
        {pending.undescribed > 0 && (
          <p class="notice" id="pending-undescribed">
            {pending.undescribed} more open request{pending.undescribed === 1 ? "" : "s"} counted by the agents' ledgers could not be
            described from the audit trail.
          </p>
        )}
        <p class="muted">Approvers decide from the link in their email; this page never shows those links.</p>
      </section>
      <section id="decisions">
        <h2>Recent decisions</h2>
        <p class="muted">
          The newest {decisions.length} since {utc(decisionsSince)}, from the audit trail. Polls still waiting, admin reads and
          unauthenticated noise (below) are left out; <code>GET /admin/audit</code> has every recorded event.
        </p>
        {decisions.length === 0 ? (
          <p class="muted" id="no-decisions">
            Nothing decided yet.
          </p>
        ) : (
          <Table head={DECISION_COLUMNS}>
            {decisions.map((row) => (
              <DecisionLine row={row} />
            ))}
          </Table>
        )}
      </section>
      <section id="noise">
        <h2>Unauthenticated noise</h2>
        <p class="muted">
          Requests refused before anyone was identified (forged assertions, wrong admin tokens, unknown links) are counted, not listed
          above: <strong id="noise-hour">{noise.lastHour.total}</strong> in the last hour,{" "}
          <strong id="noise-day">{noise.lastDay.total}</strong> in 24 h. A network that keeps failing is refused for a minute.
        </p>
        {noise.lastDay.total > 0 && (
          <Table head={NOISE_COLUMNS}>
            {Array.from({ length: NOISE_TOP_SHOWN }, (_, i) => (
              <NoiseLine rank={i} reasons={noise.lastDay.reasons} networks={noise.lastDay.networks} claimed={noise.lastDay.claimedAgents} />
            ))}
          </Table>
        )}
      </section>
    </Layout>,
  );
}

const STATUS_LABELS: Record<AgentStatus, { label: string; tone: "yes" | "no" }> = {
  active: { label: "active", tone: "yes" },
  disabled_by_policy: { label: "disabled in policy", tone: "no" },
  switched_off: { label: "switched off (kill switch)", tone: "no" },
};

const AgentLine: FC<{ agent: AgentRow; now: number }> = ({ agent, now }) => (
  <tr data-agent={agent.id} id={`agent-${agent.id}`}>
    <td data-label={AGENT_COLUMNS[0]}>
      <strong class="agent-name">{agent.name}</strong>
      <br />
      <code class="id">{agent.id}</code>
      {agent.owner !== undefined && <span class="muted"> · {agent.owner}</span>}
      <ul class="use-cases muted">
        {agent.useCases.map((u) => (
          <li>
            <code>{u}</code>
          </li>
        ))}
      </ul>
    </td>
    <td data-label={AGENT_COLUMNS[1]}>
      <span class={`badge ${STATUS_LABELS[agent.status].tone}`} data-status={agent.status}>
        {STATUS_LABELS[agent.status].label}
      </span>
    </td>
    <td data-label={AGENT_COLUMNS[2]}>
      {agent.budgets.length === 0 ? (
        <span class="muted">no budget set</span>
      ) : (
        <ul class="budgets">
          {agent.budgets.map((b) => (
            <li data-budget={b.name}>
              <meter min={0} max={b.of} low={b.of * 0.2} high={b.of * 0.5} optimum={b.of} value={b.remaining} />{" "}
              <span class="budget-left">
                {b.remaining} of {b.of}
              </span>
              <br />
              <span class="muted">{b.name}</span>
            </li>
          ))}
        </ul>
      )}
    </td>
    <td class="number" data-label={AGENT_COLUMNS[3]} data-open-approvals={String(agent.openApprovals)}>
      {agent.openApprovals}
    </td>
    <td data-label={AGENT_COLUMNS[4]}>
      {agent.recentTokens === 0 ? (
        <span class="muted">none in 24 h</span>
      ) : (
        <>
          {agent.recentTokens >= RECENT_TOKENS_SHOWN ? `${RECENT_TOKENS_SHOWN}+` : agent.recentTokens}
          {agent.lastTokenAt !== undefined && <span class="muted"> · last {ago(now - agent.lastTokenAt)} ago</span>}
        </>
      )}
    </td>
    <td data-label={AGENT_COLUMNS[5]} class="switch">
      <KillSwitch agent={agent} />
    </td>
  </tr>
);

/**
 * The kill switch, as forms that work without any script: opening the `<details>` is the first step and the
 * button inside it the confirmation; switching off asks why (recorded in the audit trail). The session cookie is
 * SameSite=Strict and the route checks the origin, so only this page can post them.
 */
const KillSwitch: FC<{ agent: AgentRow }> = ({ agent }) => {
  if (agent.status === "disabled_by_policy") return <span class="muted">off in the policy file</span>;
  const action = `/admin/switch/${encodeURIComponent(agent.id)}`;
  if (agent.status === "switched_off") {
    return (
      <details class="switch-step">
        <summary>Switch on…</summary>
        <form method="post" action={`${action}/enable`} id={`enable-form-${agent.id}`} class="switch-form">
          <p class="muted">New tokens are issued again; tokens issued before the switch stay inactive.</p>
          <button type="submit" class="approve">
            Switch {agent.id} on
          </button>
        </form>
      </details>
    );
  }
  const reasonId = `reason-${agent.id}`;
  return (
    <details class="switch-step">
      <summary>Switch off…</summary>
      <form method="post" action={`${action}/disable`} id={`disable-form-${agent.id}`} class="switch-form">
        <label for={reasonId}>Why (kept in the audit trail)</label>
        <input id={reasonId} name="reason" type="text" required maxlength={SWITCH_REASON_MAX} autocomplete="off" />
        <p class="muted">Every new token is refused, every token it holds turns inactive, its open approval requests are cancelled.</p>
        <button type="submit" class="deny">
          Switch {agent.id} off
        </button>
      </form>
    </details>
  );
};

/** What the kill switch just did, read back from the ledger (not from the address bar, which anyone can write). */
const SwitchResult: FC<{ agent: AgentRow }> = ({ agent }) => (
  <p class="notice" id="switch-result" role="status" data-status={agent.status}>
    {agent.status === "switched_off" ? (
      <>
        <strong>{agent.name}</strong> (<code>{agent.id}</code>) is switched off: every new token is refused and every token it held is
        inactive.
      </>
    ) : agent.status === "active" ? (
      <>
        <strong>{agent.name}</strong> (<code>{agent.id}</code>) is switched on: new tokens are issued again.
      </>
    ) : (
      <>
        <strong>{agent.name}</strong> (<code>{agent.id}</code>) is off in the policy file.
      </>
    )}
  </p>
);

const PendingLine: FC<{ row: PendingRow; now: number }> = ({ row, now }) => (
  <tr data-approval={row.approvalId}>
    <When ms={row.requestedAt} label={PENDING_COLUMNS[0]} />
    <td data-label={PENDING_COLUMNS[1]}>
      <code class="id">{row.agent}</code>
    </td>
    <td data-label={PENDING_COLUMNS[2]}>
      <code class="id">{row.useCase}</code>
    </td>
    <td class="intent" data-label={PENDING_COLUMNS[3]}>
      {row.intent ?? <span class="muted">(none given)</span>}
    </td>
    <td data-label={PENDING_COLUMNS[4]}>
      {row.approvedBy.length} of {row.quorum}
      {row.approvedBy.length > 0 && <span class="muted"> ({row.approvedBy.join(", ")})</span>}
    </td>
    <td data-label={PENDING_COLUMNS[5]}>in {ago(row.expiresAt - now)}</td>
    <td data-label={PENDING_COLUMNS[6]}>
      <code>{row.approvalId}</code>
    </td>
  </tr>
);

const EVENT_LABELS: Record<AuditEventType, string> = {
  token_request: "token request",
  ciba_request: "approval request",
  ciba_poll: "approval poll",
  approval_email: "approval email",
  approval_view: "approval page view",
  approval_decision: "approver's vote",
  passkey_enrolment: "passkey enrolment",
  usage_report: "usage report",
  introspection: "introspection",
  revocation: "revocation",
  admin_action: "admin action",
  admin_auth_failure: "admin sign-in refused",
  key_report: "leaked-key report",
};

const DecisionLine: FC<{ row: DecisionRow }> = ({ row }) => {
  const refused = row.status !== undefined && row.status >= 400;
  const decision = row.decision ?? (refused ? "error" : "ok");
  return (
    <tr data-decision={decision} data-type={row.type}>
      <When ms={row.ts} label={DECISION_COLUMNS[0]} />
      <td data-label={DECISION_COLUMNS[1]}>{EVENT_LABELS[row.type]}</td>
      <td data-label={DECISION_COLUMNS[2]}>
        {row.agent === undefined ? <span class="muted">—</span> : <code class="id">{row.agent}</code>}
      </td>
      <td data-label={DECISION_COLUMNS[3]}>
        {row.use_case === undefined ? <span class="muted">—</span> : <code class="id">{row.use_case}</code>}
      </td>
      <td data-label={DECISION_COLUMNS[4]}>
        <span class={`badge ${tone(decision, refused)}`}>{decision}</span>
      </td>
      <td class="reason" data-label={DECISION_COLUMNS[5]}>
        {row.reason !== undefined && <code>{row.reason}</code>}
        {row.detail !== undefined && <span class="muted"> ({row.detail})</span>}
        {row.approver !== undefined && <span> by {row.approver}</span>}
        {row.type === "approval_decision" && refused && <span class="muted"> refused (HTTP {row.status})</span>}
        {row.approval_id !== undefined && (
          <span class="muted">
            {row.reason !== undefined || row.approver !== undefined ? " · " : ""}request <code>{row.approval_id}</code>
          </span>
        )}
      </td>
      <td class="intent" data-label={DECISION_COLUMNS[6]}>
        {row.intent ?? ""}
      </td>
    </tr>
  );
};

const GRANTED = new Set(["issued", "approve", "approval_requested", "usage_recorded", "agent_enabled", "revoked", "ok", "admin_signed_in"]);

function tone(decision: string, refused: boolean): "yes" | "no" | "neutral" {
  if (refused || decision === "denied" || decision === "deny" || decision === "agent_disabled") return "no";
  return GRANTED.has(decision) ? "yes" : "neutral";
}

/** One rank of the noise table: the i-th most frequent reason, network and claimed agent, each with its count. */
const NoiseLine: FC<{ rank: number; reasons: Top; networks: Top; claimed: Top }> = ({ rank, reasons, networks, claimed }) => {
  if (![reasons, networks, claimed].some((top) => top[rank] !== undefined)) return null;
  return (
    <tr data-noise-rank={String(rank + 1)}>
      <td class="number" data-label={NOISE_COLUMNS[0]}>
        {rank + 1}
      </td>
      <NoiseCell entry={reasons[rank]} label={NOISE_COLUMNS[1]} />
      <NoiseCell entry={networks[rank]} label={NOISE_COLUMNS[2]} />
      <NoiseCell entry={claimed[rank]} label={NOISE_COLUMNS[3]} />
    </tr>
  );
};

const NoiseCell: FC<{ entry: Top[number] | undefined; label: string }> = ({ entry, label }) =>
  entry === undefined ? (
    <td data-label={label} class="empty" />
  ) : (
    <td data-label={label}>
      {entry.key === OVERFLOW ? <span class="muted">others (over the per-minute cap)</span> : <code>{entry.key}</code>}
      <span class="muted"> × {entry.count}</span>
    </td>
  );

/** Date over time, so the column stays narrow. */
const When: FC<{ ms: number; label: string }> = ({ ms, label }) => {
  const [date, time] = utc(ms).split(" ");
  return (
    <td class="when" data-label={label}>
      <span class="muted">{date}</span>
      <br />
      {time}
    </td>
  );
};

const Table: FC<PropsWithChildren<{ head: readonly string[] }>> = ({ head, children }) => (
  <div class="table-wrap">
    <table class="cards">
      <thead>
        <tr>
          {head.map((h) => (
            <th scope="col">{h}</th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  </div>
);

export type AdminProblemInput = { status: ContentfulStatusCode; message: string; requestId: string | undefined };

/** What an admin sees when a form of the overview was refused: why, the request id to look up, and the way back. */
export function renderAdminProblem({ status, message, requestId }: AdminProblemInput): RenderedPage {
  return page(
    status,
    <Layout title="Not done" mainClass="admin">
      <p class="eyebrow">Writ admin</p>
      <h1>Not done</h1>
      <p class="notice" id="admin-problem" role="alert">
        {message}
      </p>
      {requestId !== undefined && (
        <p class="muted">
          Request id <code id="admin-problem-request">{requestId}</code> (its audit record says more).
        </p>
      )}
      <p>
        <a href="/admin">Back to the overview</a>
      </p>
    </Layout>,
  );
}
