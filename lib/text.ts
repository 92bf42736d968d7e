/**
 * Untrusted text made safe to show a person (an agent's intent, context and binding message, on the approval page
 * and in the approval mail): one cleaning for every place it is shown, so a reader never sees one text in the mail
 * and another on the page.
 *
 * Format characters (`\p{Cf}`) go: bidi overrides and isolates (U+202A–U+202E, U+2066–U+2069) can make
 * "refund 10 EUR" read as something else (CVE-2021-42574, "Trojan Source"), and zero-width characters (U+200B,
 * U+200D, U+FEFF) hide text or make two strings that look equal differ. Control characters (CR and LF included)
 * become a space, so a value cannot start a new header or line of its own.
 *
 * @example
 * oneLine("refund \u202Ecod.exe\u202C") // "refund cod.exe"
 */
export function oneLine(text: string): string {
  return text
    .replace(/\p{Cf}/gu, "")
    .replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, " ")
    .trim();
}

/**
 * As {@link oneLine}, but line breaks stay: every kind of line end becomes `\n`.
 *
 * @example
 * multiLine("first\r\nsecond\u2028third") // "first\nsecond\nthird"
 */
export function multiLine(text: string): string {
  return text
    .replace(/\p{Cf}/gu, "")
    .replace(/\r\n?|[\p{Zl}\p{Zp}]/gu, "\n")
    .replace(/[^\P{Cc}\n]+/gu, " ")
    .trim();
}
