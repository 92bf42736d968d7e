/**
 * How the CLI talks: results on stdout, progress and refusals on stderr, colour only for a person at a terminal.
 * Exit codes: 0 done, 1 refused or a check failed, 2 the command line is wrong.
 */

/** The command line is wrong: exit 2, one line, no stack. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * The work was refused or a check failed (a bad policy, a refused token, a file in the way): exit 1. `lines` are
 * printed as they are, after the one-line message, so a policy's problems each get their own line.
 */
export class Failure extends Error {
  override readonly name = "Failure";
  readonly lines: readonly string[];
  constructor(message: string, lines: readonly string[] = []) {
    super(message);
    this.lines = lines;
  }
}

export type Paint = (text: string) => string;
export type Colours = { ok: Paint; bad: Paint; warn: Paint; dim: Paint; bold: Paint };

/** Everything a command may touch of the outside world, so that tests and the npm aliases can run it the same way. */
export type Io = {
  /** A result line, on stdout. */
  out(text: string): void;
  /** A note, warning or progress line, on stderr. */
  err(text: string): void;
  /** Colours for stdout and stderr; plain text when that stream is not a terminal or NO_COLOR is set. */
  colour: Colours;
  errColour: Colours;
  env: NodeJS.ProcessEnv;
  /** Reads all of stdin (e.g. a SIGNING_KEYS value piped in). */
  stdin(): Promise<string>;
};

const PLAIN: Colours = { ok: (t) => t, bad: (t) => t, warn: (t) => t, dim: (t) => t, bold: (t) => t };
const ANSI: Colours = {
  ok: (t) => `\x1b[32m${t}\x1b[39m`,
  bad: (t) => `\x1b[31m${t}\x1b[39m`,
  warn: (t) => `\x1b[33m${t}\x1b[39m`,
  dim: (t) => `\x1b[2m${t}\x1b[22m`,
  bold: (t) => `\x1b[1m${t}\x1b[22m`,
};

/** https://no-color.org: any non-empty NO_COLOR turns colour off; a pipe or a file never gets escape codes. */
export function coloursFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Colours {
  return stream.isTTY === true && !env.NO_COLOR ? ANSI : PLAIN;
}

export function processIo(): Io {
  return {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    colour: coloursFor(process.stdout, process.env),
    errColour: coloursFor(process.stderr, process.env),
    env: process.env,
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
  };
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
