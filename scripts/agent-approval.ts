// `npm run approval -- <agent-id> <use-case> <intent> [context-json]`: an alias of `writ token get --wait`
// (cli/commands/token.ts): starts a human approval, waits for the approvers and prints the token.
import { COMMANDS } from "../cli/commands/index.ts";
import { dispatch } from "../cli/framework/command.ts";
import { processIo } from "../cli/framework/io.ts";

process.exitCode = await dispatch(COMMANDS, ["token", "get", "--wait", ...process.argv.slice(2)], processIo());
