import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { requestHash } from "../../core/approvals/request-hash.ts";
import type { OpenApprovalInput } from "../../durable-objects/approval-request.ts";
import { hashSecret, randomSecret } from "../../lib/crypto.ts";
import type { RequestedGrant } from "../../schemas/approval.ts";
import { ApprovalSettingsSchema } from "../../schemas/policy.ts";
import type { AppEnv } from "../../worker/app-env.ts";
import { requestLog } from "../../worker/middleware/request-log.ts";
import { type ApprovalRoutesOptions, approvalRoutes } from "../../worker/routes/approvals.ts";
import { pageAssetRoutes } from "../../worker/routes/page-assets.ts";
import { type PasskeyEnrolmentOptions, passkeyEnrolmentRoutes } from "../../worker/routes/passkey-enrolment.ts";

/** APPROVAL_ORIGIN of the test bindings (scripts/dev-vars.ts): WebAuthn needs a host name, not 127.0.0.1. */
export const ORIGIN = "http://localhost:8787";

/** The approver-facing routes mounted the way worker/app.ts mounts them, behind the request log. */
export function approverApp(options: ApprovalRoutesOptions & PasskeyEnrolmentOptions = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(requestLog());
  app.route("/approvals", approvalRoutes(options));
  app.route("/", passkeyEnrolmentRoutes({ isApprover: () => true, ...options }));
  app.route("/", pageAssetRoutes());
  return app;
}

export type Bindings = Cloudflare.Env;

export async function call(app: Hono<AppEnv>, path: string, init: RequestInit = {}, bindings: Bindings = env): Promise<Response> {
  return app.request(`${ORIGIN}${path}`, init, bindings);
}

export function postForm(
  app: Hono<AppEnv>,
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
  bindings: Bindings = env,
) {
  return call(
    app,
    path,
    { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body: new URLSearchParams(fields) },
    bindings,
  );
}

export function postJson(app: Hono<AppEnv>, path: string, body: unknown, headers: Record<string, string> = {}, bindings: Bindings = env) {
  return call(
    app,
    path,
    { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) },
    bindings,
  );
}

export const GRANT: RequestedGrant = {
  agentId: "billing-agent",
  useCaseId: "billing.invoices.refund",
  audience: "https://billing.example.com",
  actions: ["read", "refund"],
  locations: ["https://billing.example.com/invoices"],
  limits: { max_refund_cents: 50000, currency: "EUR" },
  ttlSeconds: 300,
  intent: "Refund invoice 42 after the customer's complaint",
  context: { ticket: "SUP-1234" },
};

export type Opened = {
  approvalId: string;
  /** approver → plaintext link token */
  links: Record<string, string>;
  stub: DurableObjectStub<import("../../durable-objects/approval-request.ts").ApprovalRequest>;
  now: number;
  requestHash: string;
};

/** Opens a request directly in its Durable Object, as /bc-authorize does; every test gets its own id. */
export async function openApproval(
  opts: {
    settings?: Record<string, unknown>;
    grant?: Partial<RequestedGrant>;
    meta?: Partial<OpenApprovalInput["meta"]>;
    now?: number;
  } = {},
): Promise<Opened> {
  const now = opts.now ?? Date.now();
  const settings = ApprovalSettingsSchema.parse({
    approvers: ["ann@example.com", "ben@example.com", "bob@example.com"],
    quorum: 1,
    approver_auth: [],
    link_only: true,
    ...opts.settings,
  });
  const grant = { ...GRANT, ...opts.grant };
  const hash = await requestHash(grant);
  const links = Object.fromEntries(settings.approvers.map((a) => [a, randomSecret()]));
  const approvalId = `apr_${randomSecret(12)}`;
  const stub = env.APPROVAL_REQUEST.getByName(approvalId);
  await stub.open({
    approvalId,
    requestHash: hash,
    grant,
    settings,
    meta: { agentName: "Billing agent", agentOwner: "bob@example.com", useCaseDescription: "Refund an invoice", ...opts.meta },
    authReqSecretHash: await hashSecret(randomSecret()),
    links: await Promise.all(Object.entries(links).map(async ([approver, token]) => ({ approver, tokenHash: await hashSecret(token) }))),
    intervalSeconds: 5,
    now,
  });
  return { approvalId, links, stub, now, requestHash: hash };
}

export function pagePath(opened: Opened, approver: string): string {
  return `/approvals/${opened.approvalId}?t=${opened.links[approver]}`;
}

/** The request's stored status and decisions, read straight from its storage. */
export function stored(
  opened: Opened,
): Promise<{ status: string; decisions: { approver: string; decision: string; auth_method: string }[]; usedLinks: number }> {
  return runInDurableObject(opened.stub, (_instance, state) => {
    const sql = state.storage.sql;
    return {
      status: sql.exec<{ status: string }>("SELECT status FROM request").one().status,
      decisions: sql
        .exec<{ approver: string; decision: string; auth_method: string }>(
          "SELECT approver, decision, auth_method FROM decisions ORDER BY approver",
        )
        .toArray(),
      usedLinks: sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM links WHERE used_at IS NOT NULL").one().n,
    };
  });
}

/**
 * Text content of the first element matching `selector` (HTMLRewriter, entities decoded, whitespace collapsed),
 * with a space between nested elements, as a reader would see list items.
 */
export async function textOf(html: string, selector: string): Promise<string | undefined> {
  let text: string | undefined;
  let done = false;
  await new HTMLRewriter()
    .on(selector, {
      element(el) {
        if (text === undefined && !done) text = "";
        el.onEndTag(() => {
          done = true;
        });
      },
      text(chunk) {
        if (!done && text !== undefined) text += chunk.text;
      },
    })
    .on(`${selector} *`, {
      element() {
        if (!done && text !== undefined) text += " ";
      },
    })
    .transform(new Response(html))
    .text();
  return text === undefined ? undefined : decodeEntities(text).replace(/\s+/g, " ").trim();
}

/** Attribute values of every element matching `selector`. */
export async function attributesOf(html: string, selector: string, name: string): Promise<(string | null)[]> {
  const values: (string | null)[] = [];
  await new HTMLRewriter()
    .on(selector, {
      element(el) {
        const value = el.getAttribute(name);
        values.push(value === null ? null : decodeEntities(value));
      },
    })
    .transform(new Response(html))
    .text();
  return values;
}

/** What a browser would post from the page's Approve or Deny form. */
export async function formOf(html: string, formId: "approve-form" | "deny-form"): Promise<Record<string, string>> {
  const names = await attributesOf(html, `#${formId} input`, "name");
  const values = await attributesOf(html, `#${formId} input`, "value");
  return Object.fromEntries(names.map((n, i) => [n ?? "", values[i] ?? ""]));
}

export function decodeEntities(text: string): string {
  return text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#x27;/g, "'")
    .replace(/&amp;/g, "&");
}

export const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
} as const;

export const ADMIN_AUTH = { authorization: "Bearer dev-admin-token" } as const;

/** An admin issues a link; the approver's browser fetches options, creates the passkey and completes. */
export async function enrolPasskey(
  app: Hono<AppEnv>,
  email: string,
  authenticator: import("./soft-authenticator.ts").SoftAuthenticator,
): Promise<{ token: string; completed: Response }> {
  const issued = await postJson(app, "/admin/approvers/enrolment-links", { email }, ADMIN_AUTH);
  if (issued.status !== 201) throw new Error(`enrolment link: ${issued.status} ${await issued.text()}`);
  const token = new URL((await issued.json<{ url: string }>()).url).searchParams.get("t") ?? "";
  const options = await postJson(app, "/enrol/options", { email, t: token });
  if (options.status !== 200) throw new Error(`enrol options: ${options.status} ${await options.text()}`);
  const response = await authenticator.register(await options.json());
  const completed = await postJson(app, "/enrol/complete", { email, t: token, response });
  return { token, completed };
}
