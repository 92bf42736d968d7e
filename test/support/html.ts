/** Reading the broker's HTML pages as a browser would, with the runtime's HTMLRewriter (workerd only). */

/** What every page of the broker sends: nothing but its own assets, never framed, never cached (OWASP secure headers). */
export const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
} as const;

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
