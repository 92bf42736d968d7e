/**
 * Just enough of the `u`-mode regular expression syntax to judge a pattern's backtracking: alternatives, groups
 * (lookarounds marked as consuming nothing), quantifiers, backreferences, and for every character atom the code
 * points it can match. Used by `pattern-safety.ts`; the source must already compile with the `u` flag.
 */

export type Range = readonly [number, number];
/** The code points an atom can match; `.` and `\p{…}` count as everything, which only ever makes the check stricter. */
export type CharSet = readonly Range[];
export type Quantifier = { min: number; max: number };
export type Atom =
  | { kind: "char"; set: CharSet }
  | { kind: "group"; alternatives: Term[][]; zeroWidth: boolean }
  | { kind: "assertion" }
  | { kind: "backreference" };
export type Term = { atom: Atom; quantifier: Quantifier | undefined; start: number; end: number };

const MAX_CODE_POINT = 0x10ffff;
export const EVERYTHING: CharSet = [[0, MAX_CODE_POINT]];
const DIGITS: CharSet = [[48, 57]];
const WORD: CharSet = [
  [48, 57],
  [65, 90],
  [95, 95],
  [97, 122],
];
const SPACE: CharSet = [
  [9, 13],
  [32, 32],
  [160, 160],
  [5760, 5760],
  [8192, 8202],
  [8232, 8233],
  [8239, 8239],
  [8287, 8287],
  [12288, 12288],
  [65279, 65279],
];
const CONTROL_ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9, v: 11, f: 12, "0": 0 };

/**
 * The pattern's top-level alternatives, each a sequence of terms.
 *
 * @example parsePattern("a|b+").length // 2
 */
export function parsePattern(source: string): Term[][] {
  return new PatternParser(source).parse();
}

/** Whether two sets share a code point. */
export function intersects(a: CharSet, b: CharSet): boolean {
  return a.some(([lo, hi]) => b.some(([lo2, hi2]) => lo <= hi2 && lo2 <= hi));
}

function complement(set: CharSet): CharSet {
  const sorted = [...set].sort((x, y) => x[0] - y[0]);
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
  return out;
}

/** A recursive-descent reader of `u`-mode pattern syntax, just deep enough to see atoms, groups and quantifiers. */
class PatternParser {
  #pos = 0;
  readonly #source: string;

  constructor(source: string) {
    this.#source = source;
  }

  parse(): Term[][] {
    const alternatives = this.#alternatives();
    if (this.#pos < this.#source.length) throw new TypeError(`patternHazard: unbalanced ")" in ${this.#source}`);
    return alternatives;
  }

  #alternatives(): Term[][] {
    const alternatives = [this.#sequence()];
    while (this.#peek() === "|") {
      this.#pos++;
      alternatives.push(this.#sequence());
    }
    return alternatives;
  }

  #sequence(): Term[] {
    const terms: Term[] = [];
    while (this.#pos < this.#source.length && this.#peek() !== "|" && this.#peek() !== ")") {
      const start = this.#pos;
      const atom = this.#atom();
      const quantifier = this.#quantifier();
      terms.push({ atom, quantifier, start, end: this.#pos });
    }
    return terms;
  }

  #atom(): Atom {
    const char = this.#next();
    if (char === "^" || char === "$") return { kind: "assertion" };
    if (char === ".") return { kind: "char", set: EVERYTHING };
    if (char === "(") return this.#group();
    if (char === "[") return { kind: "char", set: this.#class() };
    if (char !== "\\") return single(char);
    const escaped = this.#next();
    if (escaped === "b" || escaped === "B") return { kind: "assertion" };
    if (escaped === "k" || /[1-9]/.test(escaped)) {
      this.#skipWhile(escaped === "k" ? /[^>]/ : /\d/);
      if (escaped === "k") this.#pos++;
      return { kind: "backreference" };
    }
    return { kind: "char", set: this.#escape(escaped) };
  }

  /** After "(": a capturing, non-capturing or named group, or a lookaround (which consumes nothing). */
  #group(): Atom {
    const zeroWidth = this.#take("?=") || this.#take("?!") || this.#take("?<=") || this.#take("?<!");
    if (!zeroWidth && !this.#take("?:") && this.#take("?<")) {
      this.#skipWhile(/[^>]/);
      this.#pos++;
    }
    const alternatives = this.#alternatives();
    this.#pos++; // ")"
    return { kind: "group", alternatives, zeroWidth };
  }

  #quantifier(): Quantifier | undefined {
    const char = this.#peek();
    let quantifier: Quantifier | undefined;
    if (char === "*") quantifier = { min: 0, max: Number.POSITIVE_INFINITY };
    else if (char === "+") quantifier = { min: 1, max: Number.POSITIVE_INFINITY };
    else if (char === "?") quantifier = { min: 0, max: 1 };
    if (quantifier) this.#pos++;
    else {
      const braces = /^\{(\d+)(,(\d*))?\}/.exec(this.#source.slice(this.#pos));
      if (!braces) return undefined;
      this.#pos += braces[0].length;
      const min = Number(braces[1]);
      quantifier = { min, max: braces[2] === undefined ? min : braces[3] ? Number(braces[3]) : Number.POSITIVE_INFINITY };
    }
    if (this.#peek() === "?") this.#pos++; // lazy: the same backtracking, in another order
    return quantifier;
  }

  /** `[…]`: its ranges, complemented when negated. */
  #class(): CharSet {
    const negated = this.#take("^");
    const ranges: Range[] = [];
    while (this.#peek() !== "]") {
      const low = this.#classAtom();
      const [first] = low;
      // `u` mode allows a range only between two single characters, so `x-y` after one is a range.
      if (first && low.length === 1 && first[0] === first[1] && this.#peek() === "-" && this.#source[this.#pos + 1] !== "]") {
        this.#pos++;
        const [last] = this.#classAtom();
        ranges.push([first[0], last?.[1] ?? MAX_CODE_POINT]);
      } else ranges.push(...low);
    }
    this.#pos++; // "]"
    return negated ? complement(ranges) : ranges;
  }

  #classAtom(): CharSet {
    const char = this.#next();
    if (char !== "\\") return single(char).set;
    const escaped = this.#next();
    if (escaped === "b") return [[8, 8]]; // backspace inside a class
    return this.#escape(escaped);
  }

  /** What follows a backslash, as a set: class escapes, control and hex escapes, or the character itself. */
  #escape(escaped: string): CharSet {
    if (escaped === "d") return DIGITS;
    if (escaped === "w") return WORD;
    if (escaped === "s") return SPACE;
    if (escaped === "D" || escaped === "W" || escaped === "S") return complement(this.#escape(escaped.toLowerCase()));
    if (escaped === "p" || escaped === "P") {
      this.#skipWhile(/[^}]/);
      this.#pos++;
      return EVERYTHING;
    }
    const control = CONTROL_ESCAPES[escaped];
    if (control !== undefined) return [[control, control]];
    if (escaped === "c") return codePoint(this.#next().charCodeAt(0) % 32);
    if (escaped === "x") return codePoint(this.#hex(2));
    if (escaped === "u") {
      if (!this.#take("{")) return codePoint(this.#hex(4));
      const start = this.#pos;
      this.#skipWhile(/[^}]/);
      const value = Number.parseInt(this.#source.slice(start, this.#pos), 16);
      this.#pos++;
      return codePoint(value);
    }
    return single(escaped).set;
  }

  #hex(digits: number): number {
    const value = Number.parseInt(this.#source.slice(this.#pos, this.#pos + digits), 16);
    this.#pos += digits;
    return value;
  }

  #peek(): string {
    return String.fromCodePoint(this.#source.codePointAt(this.#pos) ?? 0);
  }

  #next(): string {
    const char = this.#peek();
    if (this.#pos >= this.#source.length) throw new TypeError(`patternHazard: unexpected end of ${this.#source}`);
    this.#pos += char.length;
    return char;
  }

  #take(text: string): boolean {
    if (!this.#source.startsWith(text, this.#pos)) return false;
    this.#pos += text.length;
    return true;
  }

  #skipWhile(pattern: RegExp): void {
    while (this.#pos < this.#source.length && pattern.test(this.#source.charAt(this.#pos))) this.#pos++;
  }
}

function single(char: string): { kind: "char"; set: CharSet } {
  return { kind: "char", set: codePoint(char.codePointAt(0) ?? 0) };
}

function codePoint(value: number): CharSet {
  return [[value, value]];
}
