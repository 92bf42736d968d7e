// `npm run keygen`: an alias of `writ keygen` (cli/commands/keys.ts), which keeps this script's old flags
// (--rotate, --agent <id> --out <file>) and its "keygen:" error prefix. Run `npm run keygen -- --help`.
import { COMMANDS } from "../cli/commands/index.ts";
import { dispatch } from "../cli/framework/command.ts";
import { processIo } from "../cli/framework/io.ts";

process.exitCode = await dispatch(COMMANDS, ["keygen", ...process.argv.slice(2)], processIo(), { errorPrefix: "keygen" });
