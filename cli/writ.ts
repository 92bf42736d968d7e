#!/usr/bin/env node
/**
 * `writ`: the command line for agent authors and admins. `writ --help` lists the commands; each has `--help`.
 * Exit codes: 0 done, 1 refused or a check failed, 2 wrong command line. Needs Node 22.18+ (type stripping);
 * `cli/writ.mjs` says so on older Node before loading this file.
 */
import { COMMANDS } from "./commands/index.ts";
import { dispatch } from "./framework/command.ts";
import { processIo } from "./framework/io.ts";

process.exitCode = await dispatch(COMMANDS, process.argv.slice(2), processIo());
