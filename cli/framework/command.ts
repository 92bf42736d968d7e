import { type Args, type OptionSpecs, parseArgs } from "./args.ts";
import { Failure, type Io, messageOf, UsageError } from "./io.ts";

/** One command, e.g. `writ agent add`: its help is written by hand, so it reads as a person would explain it. */
export type Command = {
  name: string;
  /** One line, shown in its group's list. */
  summary: string;
  /** The usage line(s) without the leading "Usage: ". */
  usage: string;
  /** What it does, its options and an example. */
  help: string;
  options: OptionSpecs;
  /** Returns the exit code (0 when omitted); throws `UsageError` (2) or `Failure` (1). */
  run(args: Args, io: Io): Promise<number | undefined>;
};

/** A group of commands, e.g. `writ agent add|disable|enable`. */
export type Group = { name: string; summary: string; commands: readonly Command[] };

export type Entry = Command | Group;

/** An entry by name, its module loaded only when it is run (or when `writ --help` lists everything). */
export type LazyEntry = { name: string; load(): Promise<Entry> };

function isGroup(entry: Entry): entry is Group {
  return "commands" in entry;
}

export type RunOptions = {
  /** What refusals start with instead of `writ <command>` (the npm aliases keep their old prefixes). */
  errorPrefix?: string;
};

/**
 * Finds the command `argv` names and runs it. Help on every level, exit code 2 for a wrong command line, 1 for a
 * refusal; errors are one line (plus a problem list) and never a stack trace. A bug (any other error) is reported
 * as one line too, with its stack only under WRIT_DEBUG=1.
 */
export async function dispatch(entries: readonly LazyEntry[], argv: readonly string[], io: Io, options: RunOptions = {}): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    io[first === undefined ? "err" : "out"](topHelp(await Promise.all(entries.map((e) => e.load()))));
    return first === undefined ? 2 : 0;
  }
  if (first === "--version" || first === "-v") {
    io.out(VERSION);
    return 0;
  }
  const lazy = entries.find((e) => e.name === first);
  if (lazy === undefined) return usageFailure(io, options.errorPrefix ?? "writ", `unknown command ${JSON.stringify(first)}`, "writ --help");
  const entry = await lazy.load();
  if (!isGroup(entry)) return runCommand(entry, `writ ${entry.name}`, rest, io, options);

  const [second, ...tail] = rest;
  if (second === undefined || second === "--help" || second === "-h" || second === "help") {
    io[second === undefined ? "err" : "out"](groupHelp(entry));
    return second === undefined ? 2 : 0;
  }
  const command = entry.commands.find((c) => c.name === second);
  if (command === undefined)
    return usageFailure(
      io,
      options.errorPrefix ?? `writ ${entry.name}`,
      `unknown command ${JSON.stringify(second)}: one of ${entry.commands.map((c) => c.name).join(", ")}`,
      `writ ${entry.name} --help`,
    );
  return runCommand(command, `writ ${entry.name} ${command.name}`, tail, io, options);
}

async function runCommand(command: Command, path: string, argv: readonly string[], io: Io, options: RunOptions): Promise<number> {
  const prefix = options.errorPrefix ?? path;
  try {
    // --help wins over anything else on the line, so that a confused user always gets the explanation.
    if (argv.includes("--help") || argv.includes("-h")) {
      io.out(commandHelp(command));
      return 0;
    }
    const args = parseArgs(argv, command.options);
    return (await command.run(args, io)) ?? 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${prefix}: ${error.message}`);
      return 2;
    }
    if (error instanceof Failure) {
      io.err(`${prefix}: ${error.message}`);
      for (const line of error.lines) io.err(line);
      return 1;
    }
    io.err(`${prefix}: unexpected error: ${messageOf(error)}${io.env.WRIT_DEBUG === "1" ? "" : " (WRIT_DEBUG=1 shows where)"}`);
    if (io.env.WRIT_DEBUG === "1" && error instanceof Error && error.stack) io.err(error.stack);
    return 1;
  }
}

function usageFailure(io: Io, prefix: string, message: string, helpCommand: string): number {
  io.err(`${prefix}: ${message} (see ${helpCommand})`);
  return 2;
}

export const VERSION = "0.1.0";

export function topHelp(entries: readonly Entry[]): string {
  const rows = entries.flatMap((entry) =>
    isGroup(entry) ? entry.commands.map((c) => [`${entry.name} ${c.name}`, c.summary] as const) : [[entry.name, entry.summary] as const],
  );
  return [
    "Usage: writ <command> [options]      (writ <command> --help for its options)",
    "",
    "Writ's command line: agent keys, broker keys, policy checks and dry runs, tokens, the kill switch and the audit trail.",
    "",
    "Commands:",
    ...table(rows),
    "",
    "Exit codes: 0 done, 1 refused or a check failed, 2 wrong command line. Colour only on a terminal; NO_COLOR=1 turns it off.",
    "Broker commands read --issuer (default $WRIT_ISSUER, else the local dev broker) and admin commands $WRIT_ADMIN_TOKEN.",
  ].join("\n");
}

function groupHelp(group: Group): string {
  return [
    `Usage: writ ${group.name} <command> [options]`,
    "",
    group.summary,
    "",
    "Commands:",
    ...table(group.commands.map((c) => [c.name, c.summary] as const)),
    "",
    `writ ${group.name} <command> --help shows a command's options.`,
  ].join("\n");
}

export function commandHelp(command: Command): string {
  return [`Usage: ${command.usage}`, "", command.summary, "", command.help.trim()].join("\n");
}

function table(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`);
}
