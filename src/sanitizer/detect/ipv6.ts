import { isHexDigit, isWordChar, type Candidate } from './candidate.js';
import { readIpv4At, startsHexGroup } from './ip.js';
import type { CharClass } from './text-scan.js';

/** An IPv6 address as eight 16-bit groups. */
export type Groups6 = readonly [number, number, number, number, number, number, number, number];

export interface Ipv6At {
  readonly start: number;
  readonly end: number;
  /** The address as written, without brackets, zone or prefix. */
  readonly address: string;
  readonly groups: Groups6;
  readonly prefix: number | null;
}

/** The longest IPv6 text: eight groups of four, seven colons, or an IPv4 tail. */
const MAX_ADDRESS = 45;
export const isHexOrColon: CharClass = (c) => isHexDigit(c) || c === 58;
const PREFIX = /\/(\d{1,3})(?!\d)/y;

/**
 * Parse `text` as an IPv6 address (RFC 4291 §2.2: groups of 1-4 hex digits,
 * at most one `::`, optionally an IPv4 tail). Null when it is not one.
 */
export function parseIpv6(text: string): Groups6 | null {
  let head = text;
  let v4: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.includes('.', lastColon)) {
    const ip = readIpv4At(text, lastColon + 1);
    if (ip === null || ip.end !== text.length || ip.prefix !== null) return null;
    const [a, b, c, d] = ip.octets;
    v4 = [(a << 8) | b, (c << 8) | d];
    head = text.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const left = groupsOf(halves[0] ?? '');
  const right = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  if (left === null || right === null) return null;
  (halves.length === 2 ? right : left).push(...v4);
  const total = left.length + right.length;
  if (halves.length === 1) return total === 8 ? (left as unknown as Groups6) : null;
  if (total > 7) return null;
  return [...left, ...new Array<number>(8 - total).fill(0), ...right] as unknown as Groups6;
}

function groupsOf(part: string): number[] | null {
  if (part === '') return [];
  const out: number[] = [];
  for (const g of part.split(':')) {
    if (g.length < 1 || g.length > 4 || !/^[0-9A-Fa-f]+$/.test(g)) return null;
    out.push(parseInt(g, 16));
  }
  return out;
}

export type Ipv6Class = 'link-local' | 'ula' | 'global' | 'special';

export function classifyIpv6(g: Groups6): Ipv6Class {
  const [a, b] = g;
  if ((a & 0xffc0) === 0xfe80) return 'link-local';
  if ((a & 0xfe00) === 0xfc00) return 'ula';
  // Loopback, unspecified, IPv4-mapped, multicast, documentation (where pseudonyms live): not identifiers.
  if (g.slice(0, 5).every((x) => x === 0) && (g[5] === 0 || g[5] === 0xffff)) return 'special';
  if ((a & 0xff00) === 0xff00 || (a === 0x2001 && b === 0x0db8)) return 'special';
  return (a & 0xe000) === 0x2000 ? 'global' : 'special';
}

/** Whether `g` is inside the prefix `p`/`bits`. */
export function inPrefix6(g: Groups6, p: Groups6, bits: number): boolean {
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if (((g[i] ?? 0) & mask) !== ((p[i] ?? 0) & mask)) return false;
  }
  return true;
}

/**
 * The IPv6 address written at `at` (the start of a run of hex digits and
 * colons), with its `/prefix`; its IPv4 tail too. `[addr]:port`, `addr%zone`
 * and tcpdump's `addr.port` keep their port and zone: only the address is the
 * value. Null when the run is no address (a time, a MAC, a longer run).
 */
export function readIpv6At(text: string, at: number, runEnd: number): Ipv6At | null {
  let end = runEnd;
  // An IPv4 tail: `::ffff:10.1.2.3`.
  if (text.charCodeAt(end) === 46) {
    const colon = text.lastIndexOf(':', end);
    const ip = colon >= at ? readIpv4At(text, colon + 1) : null;
    if (ip !== null && ip.prefix === null) end = ip.end;
  }
  // A sentence's colon after the address (`at fe80::1:`) is not part of it; `::` at the end is.
  if (text.charCodeAt(end - 1) === 58 && text.charCodeAt(end - 2) !== 58) end--;
  if (end - at > MAX_ADDRESS || end - at < 2) return null;
  const address = text.slice(at, end);
  const groups = parseIpv6(address);
  if (groups === null) return null;
  let prefix: number | null = null;
  let valueEnd = end;
  PREFIX.lastIndex = end;
  const p = PREFIX.exec(text);
  if (p?.[1] !== undefined && Number(p[1]) <= 128 && !startsHexGroup(text, end + p[0].length)) {
    prefix = Number(p[1]);
    valueEnd = end + p[0].length;
  }
  if (valueEnd < text.length && isWordChar(text.charCodeAt(valueEnd))) return null;
  return { start: at, end: valueEnd, address, groups, prefix };
}

export interface Ipv6DetectorOptions {
  /** Declared IPv6 prefixes: anything inside them is replaced (category infra). */
  readonly prefixes: readonly { readonly groups: Groups6; readonly bits: number; readonly text: string }[];
  /** Declared IPv6 addresses, canonical. */
  readonly addresses: ReadonlySet<string>;
  /** Whether link-local and unique-local addresses in general are replaced (category ip). */
  readonly enabled: boolean;
}

/** Canonical text of an address (RFC 5952: lower case, no leading zeros, the longest zero run as `::`). */
export function formatIpv6(g: readonly number[], options: { upper?: boolean; expanded?: boolean; compress?: boolean } = {}): string {
  const hex = (n: number): string => (options.expanded === true ? n.toString(16).padStart(4, '0') : n.toString(16));
  let text: string;
  if (options.compress === false) text = g.map(hex).join(':');
  else {
    let best = -1;
    let bestLen = 1;
    for (let i = 0; i < 8; ) {
      if (g[i] !== 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > bestLen) {
        best = i;
        bestLen = j - i;
      }
      i = j;
    }
    text = best < 0 ? g.map(hex).join(':') : `${g.slice(0, best).map(hex).join(':')}::${g.slice(best + bestLen).map(hex).join(':')}`;
  }
  return options.upper === true ? text.toUpperCase() : text;
}

/**
 * Which IPv6 addresses are replaced: link-local (`fe80::…`), unique-local
 * (`fd42:…`, Incus's own), and anything inside a declared prefix. Global and
 * special addresses (loopback, multicast, documentation) are left alone, as
 * public IPv4 addresses are. (Found by scanHexAddresses.)
 */
export function ipv6Candidate(ip: Ipv6At, options: Ipv6DetectorOptions): Candidate | null {
  const kind = ip.prefix === null ? 'ip6' : 'cidr6';
  const base = { start: ip.start, end: ip.end, kind } as const;
  if (options.addresses.has(formatIpv6(ip.groups))) return { ...base, category: 'infra', pattern: 'infra.address' };
  if (options.prefixes.some((p) => inPrefix6(ip.groups, p.groups, p.bits))) return { ...base, category: 'infra', pattern: 'infra.subnet' };
  const cls = classifyIpv6(ip.groups);
  if (!options.enabled || cls === 'global' || cls === 'special') return null;
  // `fe80::/10` and `fc00::/7` themselves are general knowledge.
  if (ip.prefix !== null && ip.groups.slice(1).every((x) => x === 0) && (ip.groups[0] === 0xfe80 || ip.groups[0] === 0xfc00 || ip.groups[0] === 0xfd00)) return null;
  return { ...base, category: 'ip', pattern: cls === 'ula' ? 'ip.ipv6-ula' : 'ip.ipv6-link-local' };
}
