import type { Candidate, TriggeredDetector } from './candidate.js';
import { isHexDigit, isWordChar } from './candidate.js';

export type IpClass = 'anklume-zone' | 'rfc1918-a' | 'rfc1918-b' | 'rfc1918-c' | 'public';

export interface IpAt {
  readonly start: number;
  readonly end: number;
  /** The address alone, `10.110.0.5`. */
  readonly address: string;
  readonly octets: readonly [number, number, number, number];
  /** The CIDR prefix length when a valid `/n` follows. */
  readonly prefix: number | null;
  readonly class: IpClass;
}

/** Words after which a dotted number is a version, not an address: `version 10.1.2.3`, `v10.1.2.3`. */
const VERSION_BEFORE = /(?:^|[^A-Za-z])(?:version|ver|release|rel|build|v)[ \t]*[:=]?[ \t]*$/i;

/** The octet written in the `length` digits at `pos`, or null. */
function octet(text: string, pos: number, length: number): number | null {
  // Leading zeros are not how addresses are written (and `010` is octal to some tools).
  if (length > 1 && text.charCodeAt(pos) === 48) return null;
  const n = decimal(text, pos, length);
  return n <= 255 ? n : null;
}

export function classifyIp(o: readonly number[]): IpClass {
  const [a = 0, b = 0] = o;
  if (a === 10) return b >= 100 && b <= 159 ? 'anklume-zone' : 'rfc1918-a';
  if (a === 172 && b >= 16 && b <= 31) return 'rfc1918-b';
  if (a === 192 && b === 168) return 'rfc1918-c';
  return 'public';
}

/**
 * Read an IPv4 address (optionally with a CIDR suffix) starting exactly at `at`,
 * or null when what is there is not one. The rule that keeps version strings
 * and longer dotted numbers out: an address is a whole token — not preceded by
 * a letter, digit, `_` or `.`; not followed by a letter, digit or `_`, by `.`
 * and a digit (`10.1.2.3.4`), or by `-` and a letter (`10.1.2.3-rc1`); and not
 * right after the word version/ver/release/build/v (`version 10.1.2.3`).
 */
export function readIpv4At(text: string, at: number): IpAt | null {
  if (at > 0) {
    const before = text.charCodeAt(at - 1);
    if (isWordChar(before) || before === 46) return null;
  }
  // Read by hand, as `(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?`
  // would match at `at` (a regex match array and five strings per dotted number
  // were a tenth of the engine's garbage).
  const octets: [number, number, number, number] = [0, 0, 0, 0];
  let pos = at;
  for (let i = 0; i < 4; i++) {
    const n = digitRun(text, pos, 3);
    // Three groups end with a dot; a fourth digit where the dot should be is no address.
    if (n === 0 || (i < 3 && text.charCodeAt(pos + n) !== 46)) return null;
    const value = octet(text, pos, n);
    if (value === null) return null;
    octets[i] = value;
    pos += n + (i < 3 ? 1 : 0);
  }
  const addressEnd = pos;
  let end = addressEnd;
  let prefix: number | null = null;
  const bits = text.charCodeAt(addressEnd) === 47 ? digitRun(text, addressEnd + 1, 2) : 0;
  if (bits > 0) {
    const n = decimal(text, addressEnd + 1, bits);
    if (n <= 32 && !(bits > 1 && text.charCodeAt(addressEnd + 1) === 48) && !startsHexGroup(text, addressEnd + 1 + bits)) {
      prefix = n;
      end = addressEnd + 1 + bits;
    }
  }
  if (!isAddressEnd(text, end)) {
    if (prefix === null) return null;
    // `10.0.0.0/255.255.0.0`: not a CIDR, but the address before the slash stands.
    end = addressEnd;
    prefix = null;
    if (!isAddressEnd(text, end)) return null;
  }
  // Only a space, tab, `:` or `=` can separate a version word from its number (`v10.1.2.3` was refused above).
  const sep = at > 0 ? text.charCodeAt(at - 1) : 0;
  if ((sep === 32 || sep === 9 || sep === 58 || sep === 61) && VERSION_BEFORE.test(text.slice(Math.max(0, at - 12), at))) return null;
  // Without leading zeros, the address as written is the canonical one.
  const address = text.slice(at, addressEnd);
  return { start: at, end, address, octets, prefix, class: classifyIp(octets) };
}

/**
 * Whether `:` and a hex digit start at `pos`: after `addr/10`, the digits
 * begin a MAC or an IPv6 address (`10.1.2.3/10:66:6a:00:00:00`), not a prefix
 * length, which would hide the rest of that value from every detector.
 */
export function startsHexGroup(text: string, pos: number): boolean {
  return text.charCodeAt(pos) === 58 && isHexDigit(text.charCodeAt(pos + 1));
}

/** How many ASCII digits start at `pos`, up to `max`. */
function digitRun(text: string, pos: number, max: number): number {
  let n = 0;
  while (n < max && pos + n < text.length) {
    const c = text.charCodeAt(pos + n);
    if (c < 48 || c > 57) break;
    n++;
  }
  return n;
}

function decimal(text: string, pos: number, length: number): number {
  let n = 0;
  for (let i = 0; i < length; i++) n = n * 10 + text.charCodeAt(pos + i) - 48;
  return n;
}

/** tcpdump writes a port after a dot: `10.1.2.3.56224 > 10.1.2.4.80: Flags …`. */
const TCPDUMP_PORT = /\.\d{1,5}(?: > |: )/y;

function isAddressEnd(text: string, end: number): boolean {
  if (end >= text.length) return true;
  const c = text.charCodeAt(end);
  if (isWordChar(c)) return false;
  const next = text.charCodeAt(end + 1);
  if (c === 46 && next >= 48 && next <= 57) {
    TCPDUMP_PORT.lastIndex = end;
    return TCPDUMP_PORT.test(text); // .digit: a longer number, unless it is tcpdump's port
  }
  if (c === 45 && ((next >= 65 && next <= 90) || (next >= 97 && next <= 122))) return false; // -letter
  return true;
}

/** The RFC 1918 blocks themselves are general knowledge, not an identifier of anything. */
const GENERIC_BLOCKS = new Set(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']);

export interface IpDetectorOptions {
  /** Declared addresses and subnets (always replaced, category infra). */
  readonly addresses: ReadonlySet<string>;
  readonly subnets: ReadonlySet<string>;
  /** Whether private addresses in general are replaced (category ip). */
  readonly enabled: boolean;
}

/** Private addresses (anklume zones, RFC 1918 A/B/C) and CIDRs, plus the declared ones. */
export function ipDetector(options: IpDetectorOptions): TriggeredDetector {
  return {
    trigger: '\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}',
    detect(text, at, anchorEnd, push) {
      const ip = readIpv4At(text, at);
      if (ip === null) return null;
      const candidate = ipCandidate(ip, options);
      if (candidate !== null) push(candidate);
      return ip.end;
    },
  };
}

export function ipCandidate(ip: IpAt, options: IpDetectorOptions): Candidate | null {
  const value = ip.prefix === null ? ip.address : `${ip.address}/${ip.prefix}`;
  const kind = ip.prefix === null ? 'ip' : 'cidr';
  if (options.subnets.has(value)) {
    return { start: ip.start, end: ip.end, category: 'infra', pattern: 'infra.subnet', kind };
  }
  if (options.addresses.has(ip.address)) {
    return { start: ip.start, end: ip.end, category: 'infra', pattern: 'infra.address', kind };
  }
  if (!options.enabled || ip.class === 'public' || GENERIC_BLOCKS.has(value)) return null;
  return { start: ip.start, end: ip.end, category: 'ip', pattern: ip.prefix === null ? `ip.${ip.class}` : 'ip.cidr', kind };
}
