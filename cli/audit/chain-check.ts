import { chainHash, genesis } from "../../core/audit/hash-chain.ts";
import { canonicalJson } from "../../lib/canonical-json.ts";

/**
 * The audit trail's hash chain, recomputed from an export (`GET /admin/audit/export`, NDJSON) without the broker:
 * each record's `hash` is SHA-256 of `<prev_hash>\n<seq>\n<canonical JSON of the event>`, and a shard's first
 * record links to SHA-256 of `writ-audit-genesis\n<shard>`. The formula is core/audit/hash-chain.ts, the one the
 * AuditLog shard writes with, so that an auditor holding an export can prove it is what was recorded, or see where it
 * was changed.
 */
export type ShardCheck = {
  shard: string;
  records: number;
  /** Where the chain breaks, first break only. */
  broken?: { seq: number; problem: "edited" | "relinked" | "out of order" | "bad genesis" };
  /** Sequence numbers missing between records of the export (a filtered export has gaps; links across them are not checked). */
  gaps: number;
  /** Whether the export starts at the shard's first record (seq 1), so that the genesis link was checked. */
  fromGenesis: boolean;
  head: string | undefined;
};

const CHAIN_FIELDS = new Set(["shard", "seq", "prev_hash", "hash"]);

/**
 * @example
 * const { shards } = await checkExport(readFileSync("november.ndjson", "utf8"));
 * shards.every((s) => s.broken === undefined); // true for an untouched export
 */
export async function checkExport(ndjson: string): Promise<{ shards: ShardCheck[]; badLines: number[] }> {
  const byShard = new Map<string, Record<string, unknown>[]>();
  const badLines: number[] = [];
  for (const [index, line] of ndjson.split("\n").entries()) {
    if (line.trim() === "") continue;
    const record = parseRecord(line);
    if (record === undefined) {
      badLines.push(index + 1);
      continue;
    }
    const shard = record.shard as string;
    const records = byShard.get(shard);
    if (records === undefined) byShard.set(shard, [record]);
    else records.push(record);
  }
  const shards: ShardCheck[] = [];
  for (const [shard, records] of byShard) shards.push(await checkShard(shard, records));
  return { shards, badLines };
}

function parseRecord(line: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const r = value as Record<string, unknown>;
  const chained =
    typeof r.shard === "string" && Number.isSafeInteger(r.seq) && typeof r.hash === "string" && typeof r.prev_hash === "string";
  return chained ? r : undefined;
}

async function checkShard(shard: string, records: readonly Record<string, unknown>[]): Promise<ShardCheck> {
  const check: ShardCheck = { shard, records: records.length, gaps: 0, fromGenesis: records[0]?.seq === 1, head: undefined };
  let previous: { seq: number; hash: string } | undefined;
  for (const record of records) {
    const seq = record.seq as number;
    const prevHash = record.prev_hash as string;
    const event = Object.fromEntries(Object.entries(record).filter(([key]) => !CHAIN_FIELDS.has(key)));
    let problem: NonNullable<ShardCheck["broken"]>["problem"] | undefined;
    if (previous !== undefined && seq <= previous.seq) problem = "out of order";
    else if (previous !== undefined && seq > previous.seq + 1) check.gaps += seq - previous.seq - 1;
    else if (previous !== undefined && prevHash !== previous.hash) problem = "relinked";
    if (problem === undefined && seq === 1 && prevHash !== (await genesis(shard))) problem = "bad genesis";
    if (problem === undefined && (await chainHash(prevHash, seq, canonicalJson(event))) !== record.hash) problem = "edited";
    if (problem !== undefined) {
      check.broken = { seq, problem };
      break;
    }
    previous = { seq, hash: record.hash as string };
    check.head = previous.hash;
  }
  return check;
}
