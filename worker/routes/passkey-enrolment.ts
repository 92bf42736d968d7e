import { type Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as z from "zod";
import type { CompleteEnrolmentResult, EnrolmentProblem } from "../../durable-objects/approver-passkeys.ts";
import { hashSecret, randomSecret } from "../../lib/crypto.ts";
import { normaliseEmail } from "../../schemas/policy.ts";
import type { AppEnv } from "../app-env.ts";
import { approverPasskeys, registrationOptions, relyingParty, verifyRegistration } from "../approvals/passkey.ts";
import { note } from "../audit/note.ts";
import { readJsonBody } from "../http/read-json.ts";
import { refuse } from "../http/refuse.ts";
import { refuseEnrolmentPage } from "../http/refuse-page.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { pageSecurityHeaders } from "../middleware/page-security-headers.ts";
import { renderEnrolment } from "../pages/enrolment-page.tsx";
import { activePolicy } from "../policy/active-policy.ts";

/**
 * Passkey enrolment for approvers, mounted at "/":
 * - `POST /admin/approvers/enrolment-links` (admin bearer token, JSON `{email}`) → `{url, expires_at}`: a one-time link;
 * - `GET /enrol/:email?t=…` shows an "Add passkey" button and never uses the link up;
 * - `POST /enrol/options` (`{email, t}`) starts the WebAuthn ceremony; `POST /enrol/complete` (`{email, t, response}`)
 *   verifies the new passkey and, in one transaction, stores it and burns the link.
 * Every path checks the address against the policy's approvers before it touches a Durable Object: a made-up
 * address gets the answer an unknown link gets, and creates nothing (one object per address would let anyone
 * create objects without bound, issue 11).
 */
export type PasskeyEnrolmentOptions = {
  /** Epoch milliseconds; tests move the clock. */
  now?: () => number;
  /** Who may have passkeys, given a normalised address. Default: the active policy's approvers (also catches an admin's typo). */
  isApprover?: (email: string) => boolean;
};

/** A WebAuthn registration response is a few kilobytes; anything far bigger is not one. */
const MAX_JSON_BYTES = 32 * 1024;
const LINK_TOKEN = /^[A-Za-z0-9_-]{16,128}$/;

const Email = z.email().max(254);
const IssueLinkSchema = z.object({ email: Email });
const LinkSchema = z.object({ email: Email, t: z.string().regex(LINK_TOKEN) });
const CompleteSchema = LinkSchema.extend({ response: z.unknown() });

const ENROLMENT_REASONS = {
  unknown_link: "enrolment_link_unknown",
  link_used: "enrolment_link_used",
  expired: "enrolment_link_expired",
  stale_challenge: "enrolment_challenge_stale",
  credential_exists: "credential_exists",
} as const;

export function passkeyEnrolmentRoutes(options: PasskeyEnrolmentOptions = {}): Hono<AppEnv> {
  const clock = options.now ?? Date.now;
  const isApprover = options.isApprover ?? ((email: string) => activePolicy.approvers.has(email));
  /** The normalised address when it is an approver's; undefined otherwise, before anything is looked up. */
  const approverOf = (email: string): string | undefined => {
    const normalised = normaliseEmail(email);
    return isApprover(normalised) ? normalised : undefined;
  };
  const app = new Hono<AppEnv>();
  // Paths, not "*": this sub-app is mounted at "/" and must not touch the broker's other routes.
  app.use("/admin/approvers/*", adminAuth());
  app.use("/enrol/*", pageSecurityHeaders({ connectSelf: true }));

  app.post("/admin/approvers/enrolment-links", async (c) => {
    const parsed = IssueLinkSchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) return refuse(c, { code: "enrolment_request_invalid", expected: '{"email": "<approver email>"}' });
    const email = normaliseEmail(parsed.data.email);
    note(c, { approver: email });
    if (!isApprover(email)) return refuse(c, { code: "not_an_approver", email });
    const token = randomSecret();
    const { expiresAt } = await approverPasskeys(c.env, email).issueEnrolmentLink(await hashSecret(token), clock());
    note(c, { enrolment_link: "issued" });
    const url = `${relyingParty(c.env).origin}/enrol/${encodeURIComponent(email)}?t=${token}`;
    return c.json({ url, expires_at: Math.floor(expiresAt / 1000) }, 201, { "Cache-Control": "no-store" });
  });

  app.get("/enrol/:email", async (c) => {
    const email = Email.safeParse(c.req.param("email"));
    const token = c.req.query("t");
    const approver = email.success ? approverOf(email.data) : undefined;
    if (approver === undefined || token === undefined || !LINK_TOKEN.test(token)) return refuseEnrolmentPage(c, "unknown_link");
    note(c, { approver });
    const state = await approverPasskeys(c.env, approver).enrolmentState(await hashSecret(token), clock());
    if (!state.ok) return refuseEnrolmentPage(c, state.problem);
    return page(c, renderEnrolment({ email: approver, token, passkeys: state.passkeys }));
  });

  app.post("/enrol/options", async (c) => {
    const parsed = LinkSchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) return refuse(c, { code: "enrolment_request_invalid", expected: "{email, t}" });
    const email = approverOf(parsed.data.email);
    if (email === undefined) return enrolmentRefusal(c, "unknown_link");
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
    if (!parsed.success) return refuse(c, { code: "enrolment_request_invalid", expected: "{email, t, response}" });
    const email = approverOf(parsed.data.email);
    if (email === undefined) return enrolmentRefusal(c, "unknown_link");
    note(c, { approver: email });
    const passkeys = approverPasskeys(c.env, email);
    const tokenHash = await hashSecret(parsed.data.t);
    const pending = await passkeys.pendingChallenge(tokenHash, now);
    if (!pending.ok) return enrolmentRefusal(c, pending.problem);
    const verified = await verifyRegistration(relyingParty(c.env), pending.challenge, parsed.data.response);
    if (!verified.ok) {
      note(c, { problem: verified.problem, detail: verified.detail });
      return refuse(c, { code: "passkey_unverified" });
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

/** A link or ceremony problem, as the enrolment page's script expects it. */
function enrolmentRefusal(c: Context<AppEnv>, problem: EnrolmentProblem | "stale_challenge" | "credential_exists"): Response {
  note(c, { problem });
  return refuse(c, { code: ENROLMENT_REASONS[problem] });
}

function page(c: Context<AppEnv>, rendered: { status: ContentfulStatusCode; html: string }): Response {
  return c.html(rendered.html, rendered.status);
}

/** undefined for anything that is not a JSON body within the size cap (the schema then refuses it). */
async function readJson(request: Request): Promise<unknown> {
  const body = await readJsonBody(request, MAX_JSON_BYTES);
  return body.ok ? body.value : undefined;
}
