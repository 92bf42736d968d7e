import { type Context, Hono } from "hono";
// An id is checked before it names a Durable Object: the first call on a name creates that object.
import { isApprovalId } from "../../core/approvals/auth-req-id.ts";
import type { ApprovalProblem } from "../../core/refusals.ts";
import { hashSecret } from "../../lib/crypto.ts";
import { log } from "../../lib/log.ts";
import type { ApprovalView, ApproverAuthMethod } from "../../schemas/approval.ts";
import type { AppEnv } from "../app-env.ts";
import { ACCESS_JWT_HEADER, type AccessKeySource, remoteAccessKeys, verifyAccessJwt } from "../approvals/access-jwt.ts";
import { afterDecision } from "../approvals/lifecycle.ts";
import { approverPasskeys, assertionOptions, relyingParty, verifyAssertion } from "../approvals/passkey.ts";
import { note } from "../audit/note.ts";
import { readForm } from "../http/read-form.ts";
import { refusePage } from "../http/refuse-page.ts";
import { configOf } from "../http/request-context.ts";
import { pageSecurityHeaders } from "../middleware/page-security-headers.ts";
import { renderDecided } from "../pages/approval-outcome-pages.tsx";
import { renderApproval, type StepUp } from "../pages/approval-page.tsx";
import type { RenderedPage } from "../pages/layout.tsx";

/**
 * The approver's side of human approval, mounted at /approvals:
 * - `GET /:id?t=<link token>` shows the request and never changes state (mail scanners open links);
 * - `POST /:id` (form: t, nonce, decision, and for a passkey step-up `webauthn`) records one decision, after
 *   verifying the strong authentication the use case asks for, then updates the agent's ledger.
 */
export type ApprovalRoutesOptions = {
  /** Where Cloudflare Access keys come from; tests pass a local key set. Default: the team's certs URL. */
  accessKeys?: AccessKeySource;
  /** Epoch milliseconds; tests move the clock. */
  now?: () => number;
};

/** Link tokens are 32 random bytes in base64url; anything else cannot match and is not worth a lookup. */
const LINK_TOKEN = /^[A-Za-z0-9_-]{16,128}$/;
const NONCE = /^\d{1,16}\.[A-Za-z0-9_-]{1,128}$/;

type Proof = { ok: true; method: ApproverAuthMethod } | { ok: false; problem: ApprovalProblem; detail?: string };

export function approvalRoutes(options: ApprovalRoutesOptions = {}): Hono<AppEnv> {
  const accessKeys = options.accessKeys ?? remoteAccessKeys;
  const clock = options.now ?? Date.now;
  const app = new Hono<AppEnv>();
  app.use(pageSecurityHeaders());

  app.get("/:id", async (c) => {
    const now = clock();
    const id = c.req.param("id");
    const token = c.req.query("t");
    note(c, { approval_id: id.slice(0, 128) });
    if (!isApprovalId(id) || token === undefined || !LINK_TOKEN.test(token)) return refusePage(c, "unknown_link");
    const viewed = await c.env.APPROVAL_REQUEST.getByName(id).view(await hashSecret(token), now);
    if (!viewed.ok) return refuseLink(c, viewed);
    note(c, { approver: viewed.view.viewer, agent: viewed.view.grant.agentId, use_case: viewed.view.grant.useCaseId });
    const stepUp = await chooseStepUp(c, viewed.view, viewed.nonce);
    note(c, { step_up: stepUp.kind });
    return respond(c, renderApproval({ view: viewed.view, nonce: viewed.nonce, token, now, stepUp }));
  });

  app.post("/:id", async (c) => {
    const now = clock();
    const id = c.req.param("id");
    note(c, { approval_id: id.slice(0, 128) });
    const form = await readForm(c.req.raw);
    if (!form.ok) return refusePage(c, "bad_request", form.reason.code);
    const { t: token, nonce, decision, webauthn } = form.value.single;
    if (decision !== "approve" && decision !== "deny") return refusePage(c, "bad_request", "decision must be approve or deny");
    // `decision` is noted only once recorded: a refused form (a re-POST, a failed step-up) is an error with its
    // reason, never an `approve` or `deny` that an auditor filtering on decisions would count.
    if (nonce === undefined || !NONCE.test(nonce)) return refusePage(c, "bad_nonce");
    if (!isApprovalId(id) || token === undefined || !LINK_TOKEN.test(token)) return refusePage(c, "unknown_link");

    const stub = c.env.APPROVAL_REQUEST.getByName(id);
    const linkTokenHash = await hashSecret(token);
    // The link decides who is approving; the proof below must be for that same person.
    const viewed = await stub.view(linkTokenHash, now);
    if (!viewed.ok) return refuseLink(c, viewed);
    note(c, { approver: viewed.view.viewer, agent: viewed.view.grant.agentId, use_case: viewed.view.grant.useCaseId });

    // A deny can only reduce access, so it needs no step-up (and a phished link can at worst block a request).
    const proof: Proof =
      decision === "approve" ? await proveApprover(c, viewed.view, nonce, webauthn, accessKeys, now) : { ok: true, method: "link" };
    if (!proof.ok) return refusePage(c, proof.problem, proof.detail);
    note(c, { auth_method: proof.method });

    const decided = await stub.decide({ linkTokenHash, nonce, decision, authMethod: proof.method, now });
    if (!decided.ok) return refusePage(c, decided.problem);
    note(c, { decision, approval_status: decided.status });
    try {
      await afterDecision(c.env, { agentId: decided.agentId, requestHash: decided.requestHash }, decided.status);
    } catch (error) {
      // The decision is recorded; a failed ledger update must not make the approver think it was lost.
      log("error", "approval_after_decision_failed", {
        approval_id: id,
        error: error instanceof Error ? error.name : "unknown",
        message: error instanceof Error ? error.message.slice(0, 200) : undefined,
      });
    }
    return respond(c, renderDecided(decision, decided.status));
  });

  return app;
}

/** What the Approve button will need, decided when the page is shown (the POST checks again). */
async function chooseStepUp(c: Context<AppEnv>, view: ApprovalView, nonce: string): Promise<StepUp> {
  if (view.linkOnly) return { kind: "link" };
  const reasons: string[] = [];
  if (view.approverAuth.includes("access")) {
    if (!configOf(c).approverAccess) {
      if (!view.approverAuth.includes("passkey")) {
        misconfigured(c, view);
        reasons.push("This request needs Cloudflare Access sign-in, which is not configured on this broker. Tell the administrator.");
      }
    } else if (c.req.header(ACCESS_JWT_HEADER)) {
      return { kind: "access" };
    } else {
      reasons.push("Open this link through your organisation's Cloudflare Access sign-in to approve with it.");
    }
  }
  if (view.approverAuth.includes("passkey")) {
    const credentials = await approverPasskeys(c.env, view.viewer).credentials();
    if (credentials.length > 0) return { kind: "passkey", options: await assertionOptions(relyingParty(c.env), nonce, credentials) };
    reasons.unshift(`No passkey is enrolled for ${view.viewer}. Ask an administrator for a passkey enrolment link.`);
  }
  return { kind: "unavailable", reasons };
}

/** Strong approver authentication for an Approve: the use case's methods, checked before anything is recorded. */
async function proveApprover(
  c: Context<AppEnv>,
  view: ApprovalView,
  nonce: string,
  webauthn: string | undefined,
  accessKeys: AccessKeySource,
  now: number,
): Promise<Proof> {
  if (view.linkOnly) return { ok: true, method: "link" };
  const methods = view.approverAuth;
  if (methods.includes("passkey") && webauthn) {
    const passkeys = approverPasskeys(c.env, view.viewer);
    const verified = await verifyAssertion(relyingParty(c.env), nonce, webauthn, (credentialId) => passkeys.credential(credentialId));
    if (!verified.ok) return { ok: false, problem: "passkey_failed", detail: `${verified.problem}: ${verified.detail}` };
    const used = await passkeys.recordUse(verified.credentialId, verified.newCounter, now);
    if (!used.ok) return { ok: false, problem: "passkey_failed", detail: used.problem };
    return { ok: true, method: "passkey" };
  }
  if (methods.includes("access")) {
    const settings = configOf(c).approverAccess;
    // Access not configured is only fatal when no other method could prove the approver.
    if (!settings && !methods.includes("passkey")) {
      misconfigured(c, view);
      return { ok: false, problem: "access_not_configured" };
    }
    const token = settings ? c.req.header(ACCESS_JWT_HEADER) : undefined;
    if (settings && token) {
      try {
        const verified = await verifyAccessJwt(token, view.viewer, { settings, keys: accessKeys, now: new Date(now) });
        if (verified.ok) return { ok: true, method: "access" };
        return { ok: false, problem: "access_failed", detail: `${verified.problem}: ${verified.detail}` };
      } catch (error) {
        // Not the approver's fault (the key set could not be fetched): refuse, say so, and log it loudly.
        log("error", "access_keys_unavailable", {
          approval_id: view.approvalId,
          message: error instanceof Error ? error.message.slice(0, 200) : "unknown",
        });
        return { ok: false, problem: "unavailable" };
      }
    }
  }
  return { ok: false, problem: "auth_required", detail: `needs one of: ${methods.join(", ")}` };
}

/**
 * A link that cannot be acted on. When the link itself was genuine (used, or its request is over), the request's
 * Durable Object names the agent, and the refusal is filed in that agent's audit chain next to the decisions it
 * follows, instead of the broker's shard; an unknown link names nobody.
 */
function refuseLink(c: Context<AppEnv>, refused: { problem: ApprovalProblem; agentId?: string | undefined }): Response {
  if (refused.agentId !== undefined) note(c, { agent: refused.agentId });
  return refusePage(c, refused.problem);
}

function misconfigured(c: Context<AppEnv>, view: ApprovalView): void {
  log("error", "approver_auth_misconfigured", {
    request_id: c.get("requestId"),
    approval_id: view.approvalId,
    use_case: view.grant.useCaseId,
    detail: "policy asks for Cloudflare Access but ACCESS_TEAM_DOMAIN or ACCESS_AUD is unset",
  });
}

function respond(c: Context<AppEnv>, page: RenderedPage): Response {
  return c.html(page.html, page.status);
}
