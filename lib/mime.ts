/**
 * A small MIME message builder for Writ's own mail (the approval and quarantine notices): one text part, or a
 * multipart/alternative text + HTML pair. Just what those need, done strictly:
 * - RFC 5322: CRLF line ends everywhere, header lines within 78 characters (only an address over ~70 characters
 *   makes a longer one; 998 is the hard limit), Date and Message-ID always set, header values free of CR/LF (a
 *   caller's bug, thrown, never folded into a header).
 * - RFC 2047: a display name or Subject with anything but printable ASCII is written as UTF-8 "B" encoded-words of
 *   at most 75 characters, each holding whole characters, folded one per line.
 * - RFC 2045/2046: text in canonical form (CRLF) as UTF-8, base64 in lines of 76, or quoted-printable with soft
 *   breaks under 76; a boundary no body can contain.
 * Replaces `mimetext`, which pulled about 190 modules (core-js, babel runtime, js-base64, mime-types) into the
 * Worker for the same two-part message. Pure apart from the Message-ID's and boundary's randomness.
 *
 * @example
 * const raw = mimeMessage({ from: { address: "writ@example.com", name: "Writ" }, to: { address: "a@example.com" },
 *   subject: "Approve? bot → crm.read", date: Date.now(), text: "…", html: "<p>…</p>" });
 */

export type MailAddress = { address: string; name?: string };

export type MimeMessageInput = {
  from: MailAddress;
  to: MailAddress;
  subject: string;
  /** Epoch milliseconds: the Date header (when the message was composed). */
  date: number;
  text: string;
  /** With it, the message is multipart/alternative: the text part first, the HTML part (preferred) last. */
  html?: string;
  /** Body encoding. base64 (default) keeps every line short and opaque; quoted-printable keeps plain text readable. */
  encoding?: "base64" | "quoted-printable";
  /** Further headers (e.g. Auto-Submitted): ASCII field names and values, written as given. */
  headers?: Readonly<Record<string, string>>;
};

const CRLF = "\r\n";
/** RFC 2045 §6.7 and §6.8: encoded lines of at most 76 characters. */
const MAX_ENCODED_LINE = 76;
/** UTF-8 bytes per RFC 2047 encoded-word (at most 75 characters: see encodedWords). */
const WORD_BYTES = 42;
/** RFC 5321 §4.5.3.1.3: the longest path. */
const MAX_ADDRESS = 254;
const ENCODED_WORD_PREFIX = "=?UTF-8?B?";
const ENCODED_WORD_SUFFIX = "?=";
/** RFC 5322 §3.4.1, kept to plain ASCII (no SMTPUTF8): no space, quotes, angle brackets, specials or controls. */
const ADDRESS = /^[!#-'*+\-/-9=?A-Z^-~]+(?:\.[!#-'*+\-/-9=?A-Z^-~]+)*@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;
/** RFC 5322 §3.2.3 atext plus space: a display name made only of these needs no quoting. */
const PLAIN_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/;
/** A plain or quoted display name up to this length stays readable; a longer one is encoded (and so folded). */
const MAX_PLAIN_PHRASE = 60;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const FIELD_NAME = /^[!-9;-~]+$/;

/** The whole message, ready for `EmailMessage` / `send_email`: headers, a blank line, the body; CRLF throughout. */
export function mimeMessage(input: MimeMessageInput): string {
  const encoding = input.encoding ?? "base64";
  const headers: string[] = [
    mailboxField("From", input.from),
    mailboxField("To", input.to),
    subjectField(input.subject),
    field("Date", rfc5322Date(input.date)),
    field("Message-ID", `<${crypto.randomUUID()}@${domainOf(input.from.address)}>`),
    field("MIME-Version", "1.0"),
  ];
  for (const [name, value] of Object.entries(input.headers ?? {})) headers.push(extraField(name, value));

  const textPart = encodedText("plain", input.text, encoding);
  if (input.html === undefined) return [...headers, ...textPart.headers, "", endOfBody(textPart.body, encoding)].join(CRLF);

  const htmlPart = encodedText("html", input.html, encoding);
  const boundary = boundaryFor([textPart.body, htmlPart.body]);
  return [
    ...headers,
    field("Content-Type", `multipart/alternative; boundary=${boundary}`),
    "",
    `--${boundary}`,
    ...textPart.headers,
    "",
    textPart.body,
    `--${boundary}`,
    ...htmlPart.headers,
    "",
    htmlPart.body,
    `--${boundary}--`,
    "",
  ].join(CRLF);
}

/**
 * `Field: Name <address>`, the name quoted or encoded as needed (`<address>` alone without one), the address on a
 * folded line of its own when it would not fit on the name's last line.
 */
function mailboxField(field: string, { address, name }: MailAddress): string {
  if (address.length > MAX_ADDRESS || !ADDRESS.test(address)) throw new TypeError("mail address is not a plain ASCII addr-spec");
  if (name === undefined || name === "") return `${field}: <${address}>`;
  const head = `${field}: ${phrase(name)}`;
  const lastLine = head.slice(head.lastIndexOf(CRLF) + 1).length;
  return `${head}${lastLine + address.length + 3 > 78 ? `${CRLF} ` : " "}<${address}>`;
}

function phrase(name: string): string {
  // Longer than fits a header line: encoded-words, which fold.
  if (name.length > MAX_PLAIN_PHRASE) return encodedWords(name).join(`${CRLF} `);
  if (PLAIN_PHRASE.test(name) && !name.startsWith(" ") && !name.endsWith(" ")) return name;
  // A quoted-string can carry printable ASCII with specials; anything else is encoded (RFC 2047 §5 (3)).
  if (PRINTABLE_ASCII.test(name)) return `"${name.replace(/["\\]/g, (c) => `\\${c}`)}"`;
  return encodedWords(name).join(`${CRLF} `);
}

/** Printable ASCII that fits on one line goes as it is; anything else as encoded-words, one per folded line. */
function subjectField(subject: string): string {
  const plain = `Subject: ${subject}`;
  if (PRINTABLE_ASCII.test(subject) && plain.length <= 78) return plain;
  return `Subject: ${encodedWords(subject).join(`${CRLF} `)}`;
}

/**
 * RFC 2047 "B" encoded-words of whole characters (a UTF-8 sequence is never split across two words): 42 bytes of
 * UTF-8 make 56 base64 characters, 68 with the delimiters (the limit is 75), so even the first word fits a
 * 78-character line after "Subject: ".
 */
function encodedWords(text: string): string[] {
  const maxBytes = WORD_BYTES;
  const encoder = new TextEncoder();
  const words: string[] = [];
  let chunk: number[] = [];
  for (const char of text) {
    const bytes = encoder.encode(char);
    if (chunk.length + bytes.length > maxBytes) {
      words.push(word(chunk));
      chunk = [];
    }
    chunk.push(...bytes);
  }
  if (chunk.length > 0 || words.length === 0) words.push(word(chunk));
  return words;
}

function word(bytes: readonly number[]): string {
  return `${ENCODED_WORD_PREFIX}${base64(Uint8Array.from(bytes))}${ENCODED_WORD_SUFFIX}`;
}

function field(name: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new TypeError(`mail header ${name} would contain a line break`);
  return `${name}: ${value}`;
}

function extraField(name: string, value: string): string {
  if (!FIELD_NAME.test(name)) throw new TypeError(`mail header name ${JSON.stringify(name)} is not a field name`);
  if (!PRINTABLE_ASCII.test(value) || name.length + 2 + value.length > 78)
    throw new TypeError(`mail header ${name} must be one line of printable ASCII`);
  return `${name}: ${value}`;
}

/** A text part's headers and its encoded body. */
function encodedText(
  subtype: "plain" | "html",
  text: string,
  encoding: "base64" | "quoted-printable",
): { headers: string[]; body: string } {
  // RFC 2046 §4.1.1: text travels in canonical form, lines ended by CRLF whatever the source used.
  const bytes = new TextEncoder().encode(text.replace(/\r\n|\r|\n/g, CRLF));
  return {
    headers: [`Content-Type: text/${subtype}; charset=utf-8`, `Content-Transfer-Encoding: ${encoding}`],
    body: encoding === "base64" ? base64Lines(bytes) : quotedPrintable(bytes),
  };
}

function base64Lines(bytes: Uint8Array): string {
  const encoded = base64(bytes);
  const lines: string[] = [];
  for (let i = 0; i < encoded.length; i += MAX_ENCODED_LINE) lines.push(encoded.slice(i, i + MAX_ENCODED_LINE));
  return lines.join(CRLF);
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * RFC 2045 §6.7: printable ASCII but "=" as it is, everything else as =XX; CRLF as a hard line break; a space or
 * tab before a line break encoded (transports strip trailing white space); soft breaks ("=" at the end of a line)
 * so that no line is longer than 76 characters. A "." or "From " opening a line is encoded too, so no transport
 * rewrites it.
 */
function quotedPrintable(bytes: Uint8Array): string {
  const lines: string[] = [];
  let line = "";
  const push = (token: string) => {
    // Room for the soft break's "=".
    if (line.length + token.length > MAX_ENCODED_LINE - 1) {
      lines.push(`${line}=`);
      line = token === "." ? "=2E" : token;
      return;
    }
    line += token;
  };
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    if (byte === 0x0d && bytes[i + 1] === 0x0a) {
      lines.push(line);
      line = "";
      i++;
      continue;
    }
    const atLineEnd = i + 1 === bytes.length || (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a);
    const whiteSpace = byte === 0x20 || byte === 0x09;
    const opensLine = line.length === 0 && (byte === 0x2e || (byte === 0x46 && startsWith(bytes, i, "From ")));
    const literal = ((byte >= 0x21 && byte <= 0x7e && byte !== 0x3d) || (whiteSpace && !atLineEnd)) && !opensLine;
    push(literal ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, "0")}`);
  }
  lines.push(line);
  return lines.join(CRLF);
}

function startsWith(bytes: Uint8Array, at: number, ascii: string): boolean {
  for (let j = 0; j < ascii.length; j++) if (bytes[at + j] !== ascii.charCodeAt(j)) return false;
  return true;
}

/**
 * A boundary of token characters (so it needs no quotes) that none of the encoded bodies contains: base64 has no
 * "_", and a random suffix makes a quoted-printable collision only theoretical, which is still checked.
 */
function boundaryFor(bodies: readonly string[]): string {
  for (;;) {
    const boundary = `writ_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
    if (!bodies.some((body) => body.includes(boundary))) return boundary;
  }
}

/**
 * A message ends with CRLF (transports add one otherwise). After base64 it is white space; after quoted-printable
 * that does not end in a line break, a soft break ("=" CRLF) adds it without adding to the text.
 */
function endOfBody(body: string, encoding: "base64" | "quoted-printable"): string {
  if (body === "" || body.endsWith(CRLF)) return body;
  return encoding === "base64" ? `${body}${CRLF}` : `${body}=${CRLF}`;
}

/** RFC 5322 §3.3 date-time in UTC with a numeric zone (the "GMT" Date.toUTCString writes is obsolete syntax). */
export function rfc5322Date(epochMs: number): string {
  return new Date(epochMs).toUTCString().replace(/ GMT$/, " +0000");
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}
