/**
 * A UUIDv7 (RFC 9562 §5.7): the epoch-millisecond time in the first 48 bits, then the version, the variant and 74
 * random bits. Ids minted in time order sort in time order, so a table keyed by them grows at its end (one B-tree
 * leaf touched per insert) where a random UUIDv4 lands on a random page each time (issue #15: fewer WAL pages per
 * token). The random bits keep them unguessable; uniqueness is checked where they are stored anyway.
 */
export function uuidV7(nowMs: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let time = Math.max(0, Math.floor(nowMs));
  for (let i = 5; i >= 0; i--) {
    bytes[i] = time % 256;
    time = Math.floor(time / 256);
  }
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
