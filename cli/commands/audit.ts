import { createWriteStream, readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { checkExport } from "../audit/chain-check.ts";
import { adminCall } from "../broker/admin-api.ts";
import { adminTokenOf, issuerOf } from "../broker/settings.ts";
import type { Args } from "../framework/args.ts";
import type { Command, Group } from "../framework/command.ts";
import { Failure, type Io, messageOf, UsageError } from "../framework/io.ts";

const FILTERS = ["agent", "use-case", "decision", "type", "from", "to"] as const;
/** A progress line every this many records, so a long export shows it is moving. */
const PROGRESS_EVERY = 1000;

export const auditExport: Command = {
  name: "export",
  summary: "download the audit trail as NDJSON (one record per line, with its hash chain links)",
  usage: "writ audit export [--agent id] [--use-case id] [--decision d] [--type t] [--from time] [--to time] [--out file]",
  help: `
Streams GET /admin/audit/export: every record of the window (default: the last 24 hours; at most 93 days), oldest
day first, each agent's day in recording order, as NDJSON with each record's shard, seq, prev_hash and hash.
Check an export later, without the broker, with \`writ audit verify --file <export>\`.

Options:
  --agent id, --use-case id, --decision d, --type t     filters (a filtered export has gaps in its chains)
  --from time, --to time                                ISO 8601 or epoch milliseconds
  --out file                                            write there instead of stdout (never overwrites)
  --issuer url                                          the broker (default $WRIT_ISSUER, else the local dev broker)
The admin token comes from $WRIT_ADMIN_TOKEN.

Example:
  writ audit export --agent support-bot --from 2026-11-01 --out november.ndjson`,
  options: {
    issuer: { type: "string" },
    out: { type: "string" },
    agent: { type: "string" },
    "use-case": { type: "string" },
    decision: { type: "string" },
    type: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
  },
  async run(args: Args, io: Io) {
    args.expect([]);
    const issuer = issuerOf(args, io);
    const token = adminTokenOf(io);
    const query = new URLSearchParams();
    for (const name of FILTERS) {
      const value = args.string(name);
      if (value !== undefined) query.set(name.replace("-", "_"), value);
    }
    const { response, requestId } = await adminCall(issuer, token, "GET", `/admin/audit/export${query.size > 0 ? `?${query}` : ""}`, {
      stream: true,
    });
    const out = args.string("out");
    const sink = out === undefined ? Writable.toWeb(process.stdout) : fileSink(out);
    let records = 0;
    let lastReported = 0;
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        for (const byte of chunk) if (byte === 10) records += 1;
        if (records - lastReported >= PROGRESS_EVERY) {
          lastReported = records;
          io.err(io.errColour.dim(`… ${records} records`));
        }
        controller.enqueue(chunk);
      },
    });
    if (response.body === null) throw new Failure("the broker sent no body");
    try {
      await response.body.pipeThrough(counter).pipeTo(sink as WritableStream<Uint8Array>, { preventClose: out === undefined });
    } catch (error) {
      throw new Failure(`the export stopped after ${records} records: ${messageOf(error)}`);
    }
    io.err(
      `exported ${records} record${records === 1 ? "" : "s"}${out === undefined ? "" : ` to ${out}`}${requestId ? ` (request id ${requestId})` : ""}`,
    );
    return 0;
  },
};

function fileSink(path: string): WritableStream<Uint8Array> {
  try {
    // "wx": an export is evidence; never silently replace an earlier one.
    return Writable.toWeb(createWriteStream(path, { flags: "wx", mode: 0o600 })) as WritableStream<Uint8Array>;
  } catch (error) {
    throw new Failure(`cannot write ${path}: ${messageOf(error)}`);
  }
}

type ShardAnswer = {
  ok: boolean;
  shard: string | null;
  count?: number;
  head?: string;
  pruned?: boolean;
  brokenAt?: number;
  problem?: string;
};

export const auditVerify: Command = {
  name: "verify",
  summary: "check the audit hash chains: a day's shards at the broker, or an exported file offline",
  usage: "writ audit verify [--day YYYY-MM-DD] [--agent id] [--issuer url]\n       writ audit verify --file export.ndjson",
  help: `
At the broker (GET /admin/audit/verify): recomputes the hash chain of each shard (one per agent and UTC day) of
--day (default today) and says, per shard, how many records it holds or where it breaks: a gap is a deletion, a
wrong link a reordering, a wrong hash an edit.

Offline (--file): recomputes the chains of an export from \`writ audit export\` without asking anyone: each
record's hash, each link between consecutive records, and the genesis link of a shard exported from its start.

Options:
  --day YYYY-MM-DD     the day to check at the broker (default: today, UTC)
  --agent id           only this agent's shard
  --file path          check an export file instead ("-" reads stdin)
  --issuer url         the broker (default $WRIT_ISSUER, else the local dev broker); admin token from $WRIT_ADMIN_TOKEN

Exit codes: 0 every chain intact, 1 a chain is broken (or the broker refused), 2 wrong command line.`,
  options: { issuer: { type: "string" }, day: { type: "string" }, agent: { type: "string" }, file: { type: "string" } },
  async run(args: Args, io: Io) {
    args.expect([]);
    const file = args.string("file");
    if (file !== undefined) {
      if (args.has("day") || args.has("agent")) throw new UsageError("--file checks the export as it is: --day and --agent do not apply");
      return verifyFile(file, io);
    }
    const issuer = issuerOf(args, io);
    const token = adminTokenOf(io);
    const query = new URLSearchParams();
    const day = args.string("day");
    const agent = args.string("agent");
    if (day !== undefined) query.set("day", day);
    if (agent !== undefined) query.set("agent", agent);
    const { body } = await adminCall(issuer, token, "GET", `/admin/audit/verify${query.size > 0 ? `?${query}` : ""}`);
    const answer = body as { ok: boolean; day: string; shards: ShardAnswer[] };
    for (const shard of answer.shards)
      io.out(
        shard.ok
          ? `  ${io.colour.ok("✓")} ${shard.shard}: ${shard.count} records${shard.pruned ? " (pruned after retention; count and head kept)" : ""}`
          : `  ${io.colour.bad("✗")} ${shard.shard}: broken at seq ${shard.brokenAt} (${shard.problem})`,
      );
    if (!answer.ok) throw new Failure(`${answer.day}: audit chain broken`, []);
    io.out(`${io.colour.ok("intact")}: ${answer.day}, ${answer.shards.length} shard${answer.shards.length === 1 ? "" : "s"} with records`);
    return 0;
  },
};

async function verifyFile(path: string, io: Io): Promise<number> {
  let text: string;
  try {
    text = path === "-" ? await io.stdin() : readFileSync(path, "utf8");
  } catch (error) {
    throw new Failure(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`);
  }
  const { shards, badLines } = await checkExport(text);
  for (const shard of shards) {
    const notes = [
      shard.fromGenesis ? "from its first record" : "not from its first record (genesis not checked)",
      ...(shard.gaps > 0 ? [`${shard.gaps} records not in the export (filtered?): links across the gaps not checked`] : []),
    ].join("; ");
    io.out(
      shard.broken === undefined
        ? `  ${io.colour.ok("✓")} ${shard.shard}: ${shard.records} records, ${notes}`
        : `  ${io.colour.bad("✗")} ${shard.shard}: broken at seq ${shard.broken.seq} (${shard.broken.problem})`,
    );
  }
  const broken = shards.filter((s) => s.broken !== undefined).length;
  if (badLines.length > 0 || broken > 0)
    throw new Failure(
      `${path}: ${[broken > 0 ? `${broken} broken chain${broken === 1 ? "" : "s"}` : "", badLines.length > 0 ? `lines ${badLines.slice(0, 10).join(", ")} are not audit records` : ""].filter(Boolean).join("; ")}`,
    );
  io.out(
    `${io.colour.ok("intact")}: ${path}, ${shards.reduce((n, s) => n + s.records, 0)} records in ${shards.length} shard${shards.length === 1 ? "" : "s"}`,
  );
  return 0;
}

export const auditGroup: Group = {
  name: "audit",
  summary: "The audit trail: export it, and check its hash chains.",
  commands: [auditExport, auditVerify],
};
