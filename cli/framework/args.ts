import { UsageError } from "./io.ts";

/** One option of a command: a flag, a value, or a value that may be given more than once (`--context a=1 --context b=2`). */
export type OptionSpec = { type: "boolean" | "string" | "list"; short?: string };
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/**
 * A command line, read against the command's options. Hand-written rather than `node:util` parseArgs so that
 * every refusal is one line the user can act on, and `--help` works on every command whatever else is wrong.
 *
 * @example
 * const args = parseArgs(["add", "bot", "--out", "bot.json"], { out: { type: "string" } });
 * args.positionals; // ["add", "bot"]
 * args.string("out"); // "bot.json"
 */
export class Args {
  readonly positionals: readonly string[];
  readonly #values: ReadonlyMap<string, string | boolean | string[]>;

  constructor(positionals: string[], values: Map<string, string | boolean | string[]>) {
    this.positionals = positionals;
    this.#values = values;
  }

  get help(): boolean {
    return this.#values.get("help") === true;
  }

  flag(name: string): boolean {
    return this.#values.get(name) === true;
  }

  string(name: string): string | undefined {
    const value = this.#values.get(name);
    return typeof value === "string" ? value : undefined;
  }

  list(name: string): string[] {
    const value = this.#values.get(name);
    return Array.isArray(value) ? [...value] : [];
  }

  has(name: string): boolean {
    return this.#values.has(name);
  }

  /** The positionals, refused when there are fewer than `min` or more than `max`, named as the usage line names them. */
  expect(names: readonly string[], min = names.length): string[] {
    if (this.positionals.length < min)
      throw new UsageError(
        `missing ${names
          .slice(this.positionals.length, min)
          .map((n) => `<${n}>`)
          .join(" ")} (see --help)`,
      );
    if (this.positionals.length > names.length)
      throw new UsageError(`unexpected argument ${JSON.stringify(this.positionals[names.length])} (see --help)`);
    return [...this.positionals];
  }
}

/** `--help`/`-h` is an option of every command. `--` ends the options: what follows is positional, even `-x`. */
export function parseArgs(argv: readonly string[], specs: OptionSpecs): Args {
  const all: Record<string, OptionSpec> = { help: { type: "boolean", short: "h" }, ...specs };
  const byShort = new Map(Object.entries(all).flatMap(([name, spec]) => (spec.short ? [[spec.short, name] as const] : [])));
  const positionals: string[] = [];
  const values = new Map<string, string | boolean | string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const [rawName, inline] = long ? splitOnce(arg.slice(2), "=") : [arg.slice(1), undefined];
    const name = long ? rawName : byShort.get(rawName);
    const spec = name === undefined ? undefined : all[name];
    if (name === undefined || spec === undefined) throw new UsageError(`Unknown option '${arg.split("=")[0]}' (see --help)`);
    if (spec.type === "boolean") {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value (see --help)`);
      values.set(name, true);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("-") && next !== "-")) throw new UsageError(`--${name} needs a value (see --help)`);
      value = next;
      i += 1;
    }
    if (spec.type === "list") values.set(name, [...((values.get(name) as string[] | undefined) ?? []), value]);
    else values.set(name, value);
  }
  return new Args(positionals, values);
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}
