import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { pageSecurityHeaders } from "../middleware/page-security-headers.ts";

/**
 * The approval, enrolment and admin pages' only stylesheet and script, served from the broker's own origin so the
 * pages' CSP can forbid inline code (`script-src 'self'; style-src 'self'`). They hold no secret and may be cached.
 */

const APPROVAL_CSS = `:root { color-scheme: light dark; --fg: #1b1b1f; --bg: #fbfbfd; --muted: #5f6170; --line: #d8d9e0; --ok: #1b7f3b; --no: #b3261e; --accent: #2151c5; }
@media (prefers-color-scheme: dark) { :root { --fg: #ececf1; --bg: #15161a; --muted: #a3a5b3; --line: #33353d; --ok: #5fd08a; --no: #ff8a80; --accent: #8fb0ff; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 42rem; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
h1 { font-size: 1.45rem; line-height: 1.25; margin: 0.25rem 0 0.75rem; }
h2 { font-size: 1.05rem; margin: 1.75rem 0 0.5rem; border-bottom: 1px solid var(--line); padding-bottom: 0.25rem; }
.eyebrow, .muted { color: var(--muted); font-size: 0.9rem; }
.eyebrow { text-transform: uppercase; letter-spacing: 0.05em; margin: 0; }
blockquote { margin: 0; padding: 0.5rem 0.9rem; border-left: 4px solid var(--accent); background: color-mix(in srgb, var(--accent) 8%, transparent); white-space: pre-wrap; overflow-wrap: anywhere; }
.binding { padding: 0.75rem; border: 2px solid var(--accent); border-radius: 0.5rem; }
dl { margin: 0; }
.row { display: grid; grid-template-columns: 9rem 1fr; gap: 0.5rem; padding: 0.4rem 0; border-bottom: 1px solid var(--line); }
@media (max-width: 30rem) { .row { grid-template-columns: 1fr; gap: 0; } }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; overflow-wrap: anywhere; }
.list { margin: 0; padding-left: 1.1rem; }
.approvers { padding-left: 1.1rem; }
.yes { color: var(--ok); font-weight: 600; }
.no { color: var(--no); font-weight: 600; }
.decide form { display: block; margin: 0.75rem 0; }
button { width: 100%; min-height: 3rem; font: inherit; font-weight: 600; border-radius: 0.5rem; border: 2px solid transparent; cursor: pointer; }
button.approve { background: var(--ok); color: #fff; }
button.deny { background: transparent; color: var(--no); border-color: var(--no); }
button:disabled { opacity: 0.6; cursor: progress; }
.notice { border: 1px solid var(--line); border-radius: 0.5rem; padding: 0.5rem 0.9rem; }
.status:empty { display: none; }
.status { font-weight: 600; }
`;

/** The admin page (worker/admin/admin-page.tsx): wide tables that scroll sideways on a phone rather than squash. */
const ADMIN_CSS = `main.wide { max-width: 78rem; }
.admin-head { display: flex; flex-wrap: wrap; align-items: flex-end; justify-content: space-between; gap: 0.75rem; }
.admin-head p { margin: 0.25rem 0; }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 0.5rem; }
table { width: 100%; min-width: 48rem; border-collapse: collapse; font-size: 0.92rem; }
th, td { text-align: left; vertical-align: top; padding: 0.5rem 0.65rem; border-bottom: 1px solid var(--line); }
tbody tr:last-child td { border-bottom: 0; }
th { font-weight: 600; background: color-mix(in srgb, var(--fg) 5%, transparent); white-space: nowrap; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
td.when, td code.id, .use-cases code { white-space: nowrap; overflow-wrap: normal; }
td.when { font-variant-numeric: tabular-nums; }
td.intent { max-width: 22rem; white-space: pre-wrap; overflow-wrap: anywhere; }
td.reason { min-width: 13rem; max-width: 20rem; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 0.05rem 0.5rem; border-radius: 999px; border: 1px solid currentColor; font-size: 0.82rem; font-weight: 600; white-space: nowrap; }
.badge.yes { color: var(--ok); }
.badge.no { color: var(--no); }
.badge.neutral { color: var(--muted); }
.budgets, .use-cases { list-style: none; margin: 0.25rem 0 0; padding: 0; }
.budgets li + li { margin-top: 0.4rem; }
.use-cases { font-size: 0.85rem; }
meter { width: 7rem; height: 0.8rem; vertical-align: middle; }
.budget-left { font-variant-numeric: tabular-nums; font-weight: 600; }
.sign-in { display: grid; gap: 0.5rem; margin: 1rem 0; }
.sign-in label { font-weight: 600; }
.sign-in input { font: inherit; padding: 0.6rem 0.7rem; border: 1px solid var(--line); border-radius: 0.5rem; background: transparent; color: inherit; }
button.secondary { width: auto; min-height: 2.25rem; padding: 0 1rem; background: transparent; color: var(--accent); border-color: var(--accent); }
`;

/**
 * Runs only on a click: the Approve form with passkey options gets a WebAuthn assertion over this view's nonce
 * (the challenge) and then submits; the enrolment button creates a passkey. Nothing here submits by itself.
 */
const APPROVAL_JS = `(function () {
  "use strict";
  function toBuffer(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var binary = atob(b64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }
  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  }
  function descriptors(list) {
    return (list || []).map(function (c) { return { type: "public-key", id: toBuffer(c.id), transports: c.transports }; });
  }
  function say(text) {
    var el = document.querySelector("[data-status]");
    if (el) el.textContent = text;
  }
  function why(error) {
    return (error && (error.message || error.name)) || "unknown error";
  }
  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials);
  }

  function stepUp(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!supported()) { say("This browser cannot use passkeys."); return; }
      var button = form.querySelector("button");
      button.disabled = true;
      say("Confirm with your passkey\\u2026");
      var o = JSON.parse(form.getAttribute("data-passkey-options"));
      var publicKey = { challenge: toBuffer(o.challenge), rpId: o.rpId, timeout: o.timeout, userVerification: o.userVerification, allowCredentials: descriptors(o.allowCredentials) };
      navigator.credentials.get({ publicKey: publicKey }).then(function (credential) {
        if (!credential) throw new Error("no passkey was used");
        var r = credential.response;
        var json = {
          id: credential.id, rawId: toText(credential.rawId), type: credential.type,
          authenticatorAttachment: credential.authenticatorAttachment || undefined,
          clientExtensionResults: credential.getClientExtensionResults(),
          response: { clientDataJSON: toText(r.clientDataJSON), authenticatorData: toText(r.authenticatorData), signature: toText(r.signature), userHandle: r.userHandle ? toText(r.userHandle) : undefined }
        };
        form.querySelector("input[name=webauthn]").value = JSON.stringify(json);
        say("Passkey confirmed, sending your approval\\u2026");
        form.submit();
      }).catch(function (error) {
        button.disabled = false;
        say("The passkey check did not complete (" + why(error) + "). Nothing was recorded; you can try again.");
      });
    });
  }

  function post(path, body) {
    return fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (json) {
          if (!response.ok) throw new Error(json.error_description || "the broker refused (" + response.status + ")");
          return json;
        });
      });
  }

  function enrol(button) {
    button.addEventListener("click", function () {
      if (!supported()) { say("This browser cannot create passkeys."); return; }
      button.disabled = true;
      var who = { email: button.getAttribute("data-email"), t: button.getAttribute("data-token") };
      say("Preparing\\u2026");
      post("/enrol/options", who).then(function (o) {
        var publicKey = Object.assign({}, o, {
          challenge: toBuffer(o.challenge),
          user: Object.assign({}, o.user, { id: toBuffer(o.user.id) }),
          excludeCredentials: descriptors(o.excludeCredentials)
        });
        say("Follow your browser's prompt to create the passkey\\u2026");
        return navigator.credentials.create({ publicKey: publicKey });
      }).then(function (credential) {
        if (!credential) throw new Error("no passkey was created");
        var r = credential.response;
        var json = {
          id: credential.id, rawId: toText(credential.rawId), type: credential.type,
          authenticatorAttachment: credential.authenticatorAttachment || undefined,
          clientExtensionResults: credential.getClientExtensionResults(),
          response: { clientDataJSON: toText(r.clientDataJSON), attestationObject: toText(r.attestationObject), transports: r.getTransports ? r.getTransports() : [] }
        };
        return post("/enrol/complete", { email: who.email, t: who.t, response: json });
      }).then(function () {
        button.hidden = true;
        say("Passkey added. You can close this page; approvals that need a passkey will ask for it.");
      }).catch(function (error) {
        button.disabled = false;
        say("Could not add the passkey: " + why(error));
      });
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-passkey-options]"), stepUp);
    Array.prototype.forEach.call(document.querySelectorAll("button[data-enrol]"), enrol);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
`;

export const PAGE_ASSETS = {
  "/assets/approval.css": { body: APPROVAL_CSS + ADMIN_CSS, type: "text/css; charset=utf-8" },
  "/assets/approval.js": { body: APPROVAL_JS, type: "text/javascript; charset=utf-8" },
} as const;

/** Mounted at "/": GET /assets/approval.css and /assets/approval.js. */
export function pageAssetRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/assets/*", pageSecurityHeaders({ cacheControl: "public, max-age=3600" }));
  for (const [path, asset] of Object.entries(PAGE_ASSETS)) {
    app.get(path, (c) => c.body(asset.body, 200, { "Content-Type": asset.type }));
  }
  return app;
}
