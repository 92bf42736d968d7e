import { sha256 } from "../../lib/crypto.ts";

/**
 * The audit trail's hash chain, in one place: the AuditLog shard writes and verifies with it, and `writ audit
 * verify` recomputes it from an export without the broker. Each record's hash covers the previous record's hash,
 * its own sequence number and its canonical JSON body, so editing, deleting or reordering a record breaks the chain.
 */

/** The hash a shard's first record links to. The shard's name anchors its chain, so records cannot be moved between shards unnoticed. */
export function genesis(shard: string): Promise<string> {
  return sha256(`writ-audit-genesis\n${shard}`);
}

/** A record's hash: SHA-256 (base64url) of `<prev>\n<seq>\n<body>`, `body` being the event's canonical JSON. */
export function chainHash(prev: string, seq: number, body: string): Promise<string> {
  return sha256(`${prev}\n${seq}\n${body}`);
}
