import { type Atom, type CharSet, EVERYTHING, intersects, parsePattern, type Range, type Term } from "./pattern-syntax.ts";

/**
 * The cheap ReDoS net for a policy's context patterns, run by `compilePolicy` (so at startup in workerd, where the
 * thorough checker, recheck, is too heavy to bundle). An agent chooses the context value a pattern is matched
 * against, so a pattern that backtracks catastrophically lets it stall the isolate: `(a+)+b` takes seconds on 27
 * characters. This check refuses, from the pattern's structure alone, what V8's backtracking engine cannot match
 * in linear time for certain:
 * - a repeated group containing a quantifier (star height above one): `(a+)+b`, `(.*a){12}`, `(a?a?)*`;
 * - a repeated group whose alternatives can begin with the same character: `(a|a)*b`, `(\d|[0-9])+`;
 * - a backreference (`\1`, `\k<name>`): matching with backreferences is NP-hard in general;
 * - more than {@link MAX_OPEN_ENDED_REPEATS} open-ended repetitions (`*`, `+`, `{n,}`) that can match the same
 *   characters: each one may multiply the work by the value's length (`.*a.*a.*a.*a`).
 * It errs towards refusing: `(\d{1,3}\.){3}` is safe yet refused (spell it out: `\d{1,3}\.\d{1,3}\.\d{1,3}`).
 * It misses what only an analysis of the whole automaton finds (`a*a*b` is quadratic); `npm run policy:check` runs
 * recheck on every pattern, and the cap on context values bounds what such a pattern can cost.
 */

/** Overlapping open-ended repetitions one pattern may hold: with values capped at 256 characters, cubic work stays in milliseconds. */
export const MAX_OPEN_ENDED_REPEATS = 3;

/**
 * Why this pattern may take super-linear time to match, or undefined when the structural check finds nothing.
 * The source must already compile with the `u` flag (the policy schema checks that first); anything else is a caller bug.
 *
 * @example patternHazard("(a+)+b") // 'repeats the group "(a+)+", which itself contains a quantifier: …'
 * @example patternHazard("SUP-[0-9]{1,8}") // undefined
 */
export function patternHazard(source: string): string | undefined {
  const parsed = parsePattern(source);
  const terms = [...allTerms(parsed)];
  for (const term of terms) {
    const text = source.slice(term.start, term.end);
    if (term.atom.kind === "backreference") return `uses the backreference "${text}", which can take exponential time to match`;
    if (term.atom.kind !== "group" || term.quantifier === undefined || term.quantifier.max <= 1) continue;
    const inner = term.atom.alternatives;
    if ([...allTerms(inner)].some((t) => t.quantifier !== undefined))
      return `repeats the group "${text}", which itself contains a quantifier: matching can take exponential or high-degree polynomial time (ReDoS)`;
    if (alternativesOverlap(inner))
      return `repeats the group "${text}", whose alternatives can start with the same character: matching can take exponential time (ReDoS)`;
  }
  // Open-ended repetitions that can match the same characters can trade them among each other: one more such
  // repetition, one more power of the value's length (`.*a.*a.*a.*a` is quartic).
  const openEnded = terms.filter((t) => t.quantifier?.max === Number.POSITIVE_INFINITY);
  const trading = openEnded.filter((t) => openEnded.some((u) => u !== t && intersects(firstOfAtom(t.atom), firstOfAtom(u.atom))));
  if (trading.length > MAX_OPEN_ENDED_REPEATS)
    return `has ${trading.length} open-ended repetitions (*, + or {n,}) that can match the same characters, at most ${MAX_OPEN_ENDED_REPEATS} are allowed: each can multiply the matching time by the value's length`;
  return undefined;
}

/** Every term, depth first, groups and lookarounds included. */
function* allTerms(alternatives: readonly Term[][]): Generator<Term> {
  for (const sequence of alternatives)
    for (const term of sequence) {
      yield term;
      if (term.atom.kind === "group") yield* allTerms(term.atom.alternatives);
    }
}

function alternativesOverlap(alternatives: readonly Term[][]): boolean {
  const firsts = alternatives.map(firstOf);
  return firsts.some((a, i) => firsts.slice(i + 1).some((b) => intersects(a, b)));
}

/** What a sequence can start with: its leading terms up to the first that must consume a character. */
function firstOf(sequence: readonly Term[]): CharSet {
  const sets: Range[] = [];
  for (const term of sequence) {
    sets.push(...firstOfAtom(term.atom));
    if (!(term.quantifier?.min === 0 || nullable(term.atom))) break;
  }
  return sets;
}

function firstOfAtom(atom: Atom): CharSet {
  if (atom.kind === "char") return atom.set;
  if (atom.kind === "backreference") return EVERYTHING;
  if (atom.kind === "group" && !atom.zeroWidth) return atom.alternatives.flatMap(firstOf);
  return [];
}

function nullable(atom: Atom): boolean {
  if (atom.kind === "char") return false;
  if (atom.kind === "group" && !atom.zeroWidth)
    return atom.alternatives.some((sequence) => sequence.every((t) => t.quantifier?.min === 0 || nullable(t.atom)));
  return true;
}
