import type { ContentfulStatusCode } from "hono/utils/http-status";
import { Layout, page, type RenderedPage } from "./layout.tsx";

/** Why the sign-in form is shown: nothing presented yet, or what was wrong with what was presented. */
export type SignInReason =
  | "signed_out"
  | "no_credential"
  | "bad_token"
  | "session_expired"
  | "session_invalid"
  | "access_rejected"
  | "token_not_configured"
  | "cross_origin";

const SIGN_IN_MESSAGES: Record<SignInReason, { status: ContentfulStatusCode; message: string | undefined }> = {
  no_credential: { status: 401, message: undefined },
  signed_out: { status: 200, message: "You are signed out." },
  bad_token: { status: 401, message: "That admin token was not accepted." },
  session_expired: { status: 401, message: "Your session has ended. Sign in again." },
  session_invalid: { status: 401, message: "Your session is no longer valid (the admin token may have changed). Sign in again." },
  access_rejected: { status: 401, message: "Your Cloudflare Access identity is not an admin of this broker." },
  token_not_configured: {
    status: 401,
    message: "This broker has no admin token; sign in through its Cloudflare Access application instead.",
  },
  cross_origin: { status: 403, message: "The sign-in form was sent from another site, so it was ignored." },
};

/** The admin page for a browser without a session: one password field, posted to /admin/session. */
export function renderSignIn(reason: SignInReason): RenderedPage {
  const { status, message } = SIGN_IN_MESSAGES[reason];
  return page(
    status,
    <Layout title="Sign in" mainClass="admin">
      <p class="eyebrow">Writ admin</p>
      <h1>Sign in</h1>
      {message !== undefined && (
        <p class="notice" id="sign-in-message" role="alert">
          {message}
        </p>
      )}
      {reason !== "token_not_configured" && (
        <form method="post" action="/admin/session" id="sign-in-form" class="sign-in">
          <label for="admin-token">Admin token</label>
          <input id="admin-token" name="token" type="password" autocomplete="current-password" required />
          <button type="submit" class="approve">
            Sign in
          </button>
        </form>
      )}
      <p class="muted">
        The admin token is the broker's ADMIN_TOKEN secret. Signing in keeps a session of one hour in a cookie that only this page reads: it
        shows the overview and works the page's kill switch buttons; everything else still needs the admin API. Behind Cloudflare Access you
        are signed in already.
      </p>
    </Layout>,
  );
}
