// `npm run agent -- <agent-id> <use-case> [intent] [context-json]`: an alias of `writ token get` (cli/commands/token.ts).
import { COMMANDS } from "../cli/commands/index.ts";
import { dispatch } from "../cli/framework/command.ts";
import { processIo } from "../cli/framework/io.ts";

process.exitCode = await dispatch(COMMANDS, ["token", "get", ...process.argv.slice(2)], processIo());
