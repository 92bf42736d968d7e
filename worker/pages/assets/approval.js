/*
 * The approval and enrolment pages' only script, loaded from the broker's origin (the CSP forbids inline code).
 * Runs only on a click: the Approve form with passkey options gets a WebAuthn assertion over this view's nonce
 * (the challenge) and then submits; the enrolment button creates a passkey. Nothing here submits by itself.
 */
(() => {
  // biome-ignore lint/suspicious/noRedundantUseStrict: loaded as a classic script, not a module, so strict mode needs the directive.
  "use strict";
  function toBuffer(text) {
    let b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    const binary = atob(b64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }
  function toText(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function descriptors(list) {
    return (list || []).map((c) => ({ type: "public-key", id: toBuffer(c.id), transports: c.transports }));
  }
  /** A credential as the broker reads it (@simplewebauthn's JSON): binary fields in base64url. */
  function credentialJson(credential, response) {
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: response,
    };
  }
  function say(text) {
    const el = document.querySelector("[data-status]");
    if (el) el.textContent = text;
  }
  function why(error) {
    return (error && (error.message || error.name)) || "unknown error";
  }
  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials);
  }

  function stepUp(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!supported()) {
        say("This browser cannot use passkeys.");
        return;
      }
      const button = form.querySelector("button");
      button.disabled = true;
      say("Confirm with your passkey\u2026");
      const o = JSON.parse(form.getAttribute("data-passkey-options"));
      const publicKey = {
        challenge: toBuffer(o.challenge),
        rpId: o.rpId,
        timeout: o.timeout,
        userVerification: o.userVerification,
        allowCredentials: descriptors(o.allowCredentials),
      };
      try {
        const credential = await navigator.credentials.get({ publicKey: publicKey });
        if (!credential) throw new Error("no passkey was used");
        const r = credential.response;
        const json = credentialJson(credential, {
          clientDataJSON: toText(r.clientDataJSON),
          authenticatorData: toText(r.authenticatorData),
          signature: toText(r.signature),
          userHandle: r.userHandle ? toText(r.userHandle) : undefined,
        });
        form.querySelector("input[name=webauthn]").value = JSON.stringify(json);
        say("Passkey confirmed, sending your approval\u2026");
        form.submit();
      } catch (error) {
        button.disabled = false;
        say(`The passkey check did not complete (${why(error)}). Nothing was recorded; you can try again.`);
      }
    });
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const json = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(json.error_description || `the broker refused (${response.status})`);
    return json;
  }

  function enrol(button) {
    button.addEventListener("click", async () => {
      if (!supported()) {
        say("This browser cannot create passkeys.");
        return;
      }
      button.disabled = true;
      const who = { email: button.getAttribute("data-email"), t: button.getAttribute("data-token") };
      say("Preparing\u2026");
      try {
        const o = await post("/enrol/options", who);
        const publicKey = Object.assign({}, o, {
          challenge: toBuffer(o.challenge),
          user: Object.assign({}, o.user, { id: toBuffer(o.user.id) }),
          excludeCredentials: descriptors(o.excludeCredentials),
        });
        say("Follow your browser's prompt to create the passkey\u2026");
        const credential = await navigator.credentials.create({ publicKey: publicKey });
        if (!credential) throw new Error("no passkey was created");
        const r = credential.response;
        const json = credentialJson(credential, {
          clientDataJSON: toText(r.clientDataJSON),
          attestationObject: toText(r.attestationObject),
          transports: r.getTransports ? r.getTransports() : [],
        });
        await post("/enrol/complete", { email: who.email, t: who.t, response: json });
        button.hidden = true;
        say("Passkey added. You can close this page; approvals that need a passkey will ask for it.");
      } catch (error) {
        button.disabled = false;
        say(`Could not add the passkey: ${why(error)}`);
      }
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-passkey-options]"), stepUp);
    Array.prototype.forEach.call(document.querySelectorAll("button[data-enrol]"), enrol);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
