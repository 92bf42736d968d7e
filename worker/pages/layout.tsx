import type { Child, FC, PropsWithChildren } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * The one layout of the broker's pages (approval, enrolment, admin, dev outbox), rendered with hono/jsx, which
 * escapes every text and attribute: what an agent wrote cannot become markup. No inline script or style (the CSP
 * forbids both): the look comes from one stylesheet, and only pages with a passkey ceremony load the one script.
 */

/** Served by worker/routes/page-assets.ts; named after the first page that used them (renaming would change every page). */
export const STYLESHEET_PATH = "/assets/approval.css";
export const SCRIPT_PATH = "/assets/approval.js";

export type RenderedPage = { status: ContentfulStatusCode; html: string };

type LayoutProps = PropsWithChildren<{
  /** The page's own title; the tab shows it followed by " · Writ". */
  title: string;
  /** Loads the passkey script (approval and enrolment pages); other pages run no script at all. */
  script?: boolean;
  /** The admin pages' `<main>`: the overview's tables need the wide one. */
  mainClass?: "admin" | "admin wide";
}>;

export const Layout: FC<LayoutProps> = ({ title, script, mainClass, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="robots" content="noindex, nofollow" />
      <title>{`${title} · Writ`}</title>
      <link rel="stylesheet" href={STYLESHEET_PATH} />
      {script && <script src={SCRIPT_PATH} defer />}
    </head>
    <body>
      <main class={mainClass}>{children}</main>
    </body>
  </html>
);

export type MessagePage = { status: ContentfulStatusCode; title: string; message: string; note?: string };

/**
 * A page that says one thing to an approver: a recorded decision, or why a link cannot be used. It loads the
 * passkey script like every approver page (the script finds nothing to do on it).
 */
export function renderMessage({ status, title, message, note }: MessagePage): RenderedPage {
  return page(
    status,
    <Layout title={title} script>
      <h1>{title}</h1>
      <p>{message}</p>
      {note !== undefined && <p class="muted">{note}</p>}
    </Layout>,
  );
}

/** One labelled line of a `<dl>`; the id lets tests and scripts find the value. */
export const Row: FC<PropsWithChildren<{ label: string; id?: string }>> = ({ label, id, children }) => (
  <div class="row">
    <dt>{label}</dt>
    <dd id={id}>{children}</dd>
  </div>
);

/** A rendered document with its HTTP status, ready for `c.html(page.html, page.status)`. */
export function page(status: ContentfulStatusCode, body: Child): RenderedPage {
  return { status, html: `<!doctype html>${String(body)}` };
}
