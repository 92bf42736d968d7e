import { type Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { CompleteEnrolmentResult, EnrolmentProblem } from "../../durable-objects/approver-passkeys.ts";
import { hashSecret, randomSecret } from "../../lib/crypto.ts";
import type { LogFields } from "../../lib/log.ts";
import { log } from "../../lib/log.ts";
import type { AppEnv } from "../app-env.ts";
import { renderEnrolment, renderEnrolmentProblem } from "../approvals/page.tsx";
import { approverPasskeys, registrationOptions, relyingParty, verifyRegistration } from "../approvals/passkey.ts";
import { readCapped } from "../http/read-form.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { pageSecurityHeaders } from "../middleware/page-security-headers.ts";
import { activePolicy } from "../policy/active-policy.ts";

/**
 * Passkey enrolment for approvers, mounted at "/":
 * - `POST /admin/approvers/enrolment-links` (admin bearer token, JSON `{email}`) → `{url, expires_at}`: a one-time link;
 * - `GET /enrol/:email?t=…` shows an "Add passkey" button and never uses the link up;
 * - `POST /enrol/options` (`{email, t}`) starts the WebAuthn ceremony; `POST /enrol/complete` (`{email, t, response}`)
 *   verifies the new passkey and, in one transaction, stores it and burns the link.
 */
export type PasskeyEnrolmentOptions = {
  /** Epoch milliseconds; tests move the clock. */
  now?: () => number;
  /** Whom an admin may enrol. Default: anyone named as an approver in the active policy (catches typos). */
  isApprover?: (email: string) => boolean;
};

/** A WebAuthn registration response is a few kilobytes; anything far bigger is not one. */
const MAX_JSON_BYTES = 32 * 1024;
const LINK_TOKEN = /^[A-Za-z0-9_-]{16,128}$/;

const Email = z.email().max(254);
const IssueLinkSchema = z.object({ email: Email });
const LinkSchema = z.object({ email: Email, t: z.string().regex(LINK_TOKEN) });
const CompleteSchema = LinkSchema.extend({ response: z.unknown() });

const PROBLEM_STATUS: Record<
  EnrolmentProblem | "stale_challenge" | "credential_exists",
  { status: ContentfulStatusCode; description: string }
> = {
  unknown_link: { status: 404, description: "this enrolment link is not valid" },
  link_used: { status: 410, description: "this enrolment link has already been used" },
  expired: { status: 410, description: "this enrolment link has expired" },
  stale_challenge: { status: 400, description: "the passkey ceremony took too long or was restarted; reload the page and try again" },
  credential_exists: { status: 409, description: "this passkey is already enrolled" },
};

export function passkeyEnrolmentRoutes(options: PasskeyEnrolmentOptions = {}): Hono<AppEnv> {
  const clock = options.now ?? Date.now;
  const isApprover = options.isApprover ?? policyApprover;
  const app = new Hono<AppEnv>();
  // Paths, not "*": this sub-app is mounted at "/" and must not touch the broker's other routes.
  app.use("/admin/approvers/*", adminAuth());
  app.use("/enrol/*", pageSecurityHeaders({ connectSelf: true }));

  app.post("/admin/approvers/enrolment-links", async (c) => {
    const parsed = IssueLinkSchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) return jsonError(c, 400, "invalid_request", 'send JSON {"email": "<approver email>"}');
    const email = parsed.data.email.toLowerCase();
    note(c, { approver: email });
    if (!isApprover(email)) return jsonError(c, 400, "invalid_request", `${email} is not an approver of any use case in the policy`);
    const token = randomSecret();
    const { expiresAt } = await approverPasskeys(c.env, email).issueEnrolmentLink(await hashSecret(token), clock());
    note(c, { enrolment_link: "issued" });
    const url = `${relyingParty(c.env).origin}/enrol/${encodeURIComponent(email)}?t=${token}`;
    return c.json({ url, expires_at: Math.floor(expiresAt / 1000) }, 201, { "Cache-Control": "no-store" });
  });

  app.get("/enrol/:email", async (c) => {
    const email = Email.safeParse(c.req.param("email"));
    const token = c.req.query("t");
    if (!email.success || token === undefined || !LINK_TOKEN.test(token)) return page(c, renderEnrolmentProblem("unknown_link"));
    const approver = email.data.toLowerCase();
    note(c, { approver });
    const state = await approverPasskeys(c.env, approver).enrolmentState(await hashSecret(token), clock());
    if (!state.ok) {
      note(c, { problem: state.problem });
      return page(c, renderEnrolmentProblem(state.problem));
    }
    return page(c, renderEnrolment({ email: approver, token, passkeys: state.passkeys }));
  });

  app.post("/enrol/options", async (c) => {
    const parsed = LinkSchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) return jsonError(c, 400, "invalid_request", "send JSON {email, t}");
    const email = parsed.data.email.toLowerCase();
    note(c, { approver: email });
    const challenge = randomSecret();
    const started = await approverPasskeys(c.env, email).beginEnrolment(await hashSecret(parsed.data.t), challenge, clock());
    if (!started.ok) return enrolmentRefusal(c, started.problem);
    const creationOptions = await registrationOptions(relyingParty(c.env), {
      email,
      userHandle: started.userHandle,
      challenge,
      existingCredentialIds: started.credentialIds,
    });
    return c.json(creationOptions, 200, { "Cache-Control": "no-store" });
  });

  app.post("/enrol/complete", async (c) => {
    const now = clock();
    const parsed = CompleteSchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) return jsonError(c, 400, "invalid_request", "send JSON {email, t, response}");
    const email = parsed.data.email.toLowerCase();
    note(c, { approver: email });
    const passkeys = approverPasskeys(c.env, email);
    const tokenHash = await hashSecret(parsed.data.t);
    const pending = await passkeys.pendingChallenge(tokenHash, now);
    if (!pending.ok) return enrolmentRefusal(c, pending.problem);
    const verified = await verifyRegistration(relyingParty(c.env), pending.challenge, parsed.data.response);
    if (!verified.ok) {
      note(c, { problem: verified.problem, detail: verified.detail });
      return jsonError(c, 400, "invalid_request", "the passkey could not be verified");
    }
    const completed: CompleteEnrolmentResult = await passkeys.completeEnrolment({
      tokenHash,
      challenge: pending.challenge,
      credential: verified.credential,
      now,
    });
    if (!completed.ok) return enrolmentRefusal(c, completed.problem);
    note(c, { enrolment_link: "used", passkey: "enrolled" });
    return c.json({ status: "enrolled" }, 201, { "Cache-Control": "no-store" });
  });

  return app;
}

function policyApprover(email: string): boolean {
  for (const useCase of activePolicy.useCases.values()) {
    if (useCase.approval?.approvers.some((a) => a.toLowerCase() === email)) return true;
  }
  return false;
}

function enrolmentRefusal(c: Context<AppEnv>, problem: keyof typeof PROBLEM_STATUS): Response {
  note(c, { problem });
  const { status, description } = PROBLEM_STATUS[problem];
  return jsonError(c, status, problem, description);
}

function jsonError(c: Context<AppEnv>, status: ContentfulStatusCode, error: string, description: string): Response {
  return c.json({ error, error_description: description }, status, { "Cache-Control": "no-store" });
}

function page(c: Context<AppEnv>, rendered: { status: ContentfulStatusCode; html: string }): Response {
  return c.html(rendered.html, rendered.status);
}

/** undefined for anything that is not a JSON body within the size cap (the schema then refuses it). */
async function readJson(request: Request): Promise<unknown> {
  const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json" || Number(request.headers.get("content-length") ?? "0") > MAX_JSON_BYTES) return undefined;
  const text = await readCapped(request, MAX_JSON_BYTES);
  if (typeof text !== "string") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function note(c: Context<AppEnv>, fields: LogFields): void {
  const outcome = c.get("outcome") as LogFields | undefined;
  if (outcome) Object.assign(outcome, fields);
  else log("info", "passkey_enrolment", fields);
}
