/**
 * A strict CIDR parser for security group sources. Strict because the CIDR goes into an
 * AuthorizeSecurityGroupIngress call and, later, into OpenIngress's "is the rule already there?"
 * comparison: EC2 quietly normalises a CIDR with host bits set (`10.0.0.1/24` is stored as
 * `10.0.0.0/24`), so accepting one would make the stored rule differ from the spec's.
 */

export interface Cidr {
  version: 4 | 6;
  prefix: number;
  /** The network address and prefix in canonical form (RFC 5952 for IPv6). */
  canonical: string;
  /** True when bits beyond the prefix are set (`10.0.0.1/24`). */
  hostBitsSet: boolean;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;
const PREFIX = /^(0|[1-9]\d{0,2})$/;

const parseIpv4 = (text: string): bigint | undefined => {
  const octets = text.split('.');
  if (octets.length !== 4 || !octets.every((o) => OCTET.test(o))) return undefined;
  return octets.reduce((acc, o) => (acc << 8n) | BigInt(o), 0n);
};

const parseIpv6 = (input: string): bigint | undefined => {
  let text = input;
  let low32 = 0n;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    // An embedded IPv4 tail (`::ffff:192.0.2.1`) stands for the last two groups.
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === undefined || lastColon < 1) return undefined;
    low32 = v4;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string | undefined) => (part === undefined || part === '' ? [] : part.split(':'));
  const head = groupsOf(halves[0]);
  const tail = groupsOf(halves[1]);
  if (![...head, ...tail].every((g) => HEXTET.test(g))) return undefined;
  const compressed = halves.length === 2;
  if (compressed ? head.length + tail.length > 7 : head.length !== 8) return undefined;
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) | low32;
};

const formatIpv4 = (value: bigint): string =>
  [24n, 16n, 8n, 0n].map((shift) => ((value >> shift) & 0xffn).toString()).join('.');

/** RFC 5952: lowercase, no leading zeros, the longest run (2+) of zero groups as `::`. */
const formatIpv6 = (value: bigint): string => {
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => Number((value >> shift) & 0xffffn));
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
};

/** The CIDR, or undefined when `text` is not `<IPv4>/<0-32>` or `<IPv6>/<0-128>` (zone ids are refused). */
export const parseCidr = (text: string): Cidr | undefined => {
  const slash = text.indexOf('/');
  if (slash < 0 || text.length > 64) return undefined;
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!PREFIX.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const version = address.includes(':') ? 6 : 4;
  const bits = version === 4 ? 32 : 128;
  const value = version === 4 ? parseIpv4(address) : parseIpv6(address);
  if (value === undefined || prefix > bits) return undefined;
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  const network = value & ~hostMask;
  const format = version === 4 ? formatIpv4 : formatIpv6;
  return { version, prefix, canonical: `${format(network)}/${prefix}`, hostBitsSet: (value & hostMask) !== 0n };
};
