/**
 * The network a client address belongs to: the unit in which unauthenticated failures are counted and limited.
 * One address is too fine (an attacker with an IPv6 /64, or a botnet in one data centre, has millions of them) and
 * a whole provider too coarse, so: IPv4 /24 and IPv6 /48, the smallest blocks routed on the public internet.
 */

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEXTET = /^[0-9a-f]{1,4}$/i;

/**
 * `203.0.113.0/24` or `2001:db8:7::/48` for a client address as Cloudflare sends it (`CF-Connecting-IP`), or undefined
 * when there is no address or it is not an IP address (requests that did not come from the internet: a service
 * binding, a test). An IPv4-mapped IPv6 address counts as its IPv4 network.
 *
 * @example clientNetwork("2001:db8:7:1::9") // "2001:db8:7::/48"
 */
export function clientNetwork(ip: string | undefined): string | undefined {
  if (ip === undefined) return undefined;
  const v4 = ipv4Octets(ip);
  if (v4) return ipv4Network(v4);
  const groups = ipv6Groups(ip);
  if (!groups) return undefined;
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0] = groups;
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && f === 0xffff) return ipv4Network([g >> 8, g & 0xff, h >> 8, h & 0xff]);
  return `${a.toString(16)}:${b.toString(16)}:${c.toString(16)}::/48`;
}

type Octets = readonly [number, number, number, number];

function ipv4Network([a, b, c]: Octets): string {
  return `${a}.${b}.${c}.0/24`;
}

function ipv4Octets(text: string): Octets | undefined {
  const match = IPV4.exec(text);
  if (!match) return undefined;
  const [a, b, c, d] = match.slice(1).map(Number) as [number, number, number, number];
  return [a, b, c, d].every((o) => o <= 255) ? [a, b, c, d] : undefined;
}

/** The eight 16-bit groups of an IPv6 address (RFC 4291 §2.2: `::` shortening, a trailing dotted IPv4, a zone id). */
function ipv6Groups(text: string): number[] | undefined {
  const address = text.split("%")[0] ?? "";
  const halves = address.split("::");
  if (!address.includes(":") || halves.length > 2) return undefined;
  const [head, tail] = halves.map((half, i) => groupsOf(half, i === halves.length - 1));
  if (head === undefined || (halves.length === 2 && tail === undefined)) return undefined;
  if (tail === undefined) return head.length === 8 ? head : undefined;
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...Array<number>(missing).fill(0), ...tail] : undefined;
}

/** One side of `::`: hextets, the last of which may be a dotted IPv4 address (two groups) where it ends the address. */
function groupsOf(side: string, endsAddress: boolean): number[] | undefined {
  if (side === "") return [];
  const parts = side.split(":");
  const groups: number[] = [];
  for (const [i, part] of parts.entries()) {
    if (HEXTET.test(part)) {
      groups.push(Number.parseInt(part, 16));
      continue;
    }
    const octets = endsAddress && i === parts.length - 1 ? ipv4Octets(part) : undefined;
    if (!octets) return undefined;
    groups.push(octets[0] * 256 + octets[1], octets[2] * 256 + octets[3]);
  }
  return groups;
}
