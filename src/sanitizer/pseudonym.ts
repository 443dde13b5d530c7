import { createHash, createHmac } from 'node:crypto';
import type { ValueKind } from './detect/candidate.js';
import { SanitizeError } from './errors.js';
import { formatIpv6, parseIpv6 } from './detect/ipv6.js';
import { readMacAt } from './detect/mac.js';
import type { TextOccurrences } from './occurrences.js';
import type { MappingStore } from './types.js';

const CONSONANTS = 'bdfgklmnprstvz';
const VOWELS = 'aeiou';
/** Candidates tried before giving up on a value (each one collided with something). */
const MAX_ATTEMPTS = 64;
/**
 * A label longer than this is hashed once: each 32-byte block re-hashes the
 * label, so a long value (a path, an extra-pattern match) would otherwise cost
 * its length per block — quadratic. Shorter labels are used as they are, which
 * keeps the pseudonyms of ordinary values what they always were.
 */
const MAX_LABEL = 512;

/**
 * Deterministic bytes for (kind, value, attempt), from the domain's secret:
 * the same secret gives the same pseudonyms after a restart or on another
 * gateway, so prompt caching keeps working; another domain's secret gives others.
 */
class Bytes {
  private block = 0;
  private buffer: Buffer;
  private offset = 0;

  private readonly label: string;

  constructor(
    private readonly secret: Uint8Array,
    label: string,
    /** Syllables added to every word: where short words are all taken, longer ones are tried. */
    readonly extraSyllables = 0,
  ) {
    this.label = label.length > MAX_LABEL ? `sha256:${createHash('sha256').update(label).digest('hex')}` : label;
    this.buffer = this.digest();
  }

  private digest(): Buffer {
    return createHmac('sha256', this.secret).update(`${this.label}\u0000${this.block}`).digest();
  }

  next(): number {
    if (this.offset >= this.buffer.length) {
      this.block++;
      this.buffer = this.digest();
      this.offset = 0;
    }
    return this.buffer[this.offset++] ?? 0;
  }

  /** A uniform-enough integer below `n` (n ≤ 2^24). */
  below(n: number): number {
    return ((this.next() << 16) | (this.next() << 8) | this.next()) % n;
  }
}

/** Pronounceable, lower-case, JSON-safe: `kelaso`. Rarely an English word, never a quote or backslash. */
function syllables(bytes: Bytes, count: number): string {
  let out = '';
  for (let i = 0; i < count + bytes.extraSyllables; i++) out += (CONSONANTS[bytes.next() % CONSONANTS.length] ?? 'k') + (VOWELS[bytes.next() % VOWELS.length] ?? 'a');
  return out;
}

/** A word of a name: syllables, keeping a trailing number (`db01` → `kela01`). */
function pseudoWord(bytes: Bytes, word: string): string {
  const digits = /\d*$/.exec(word)?.[0] ?? '';
  const letters = word.length - digits.length;
  // A number alone gets a word too: it must not stay what it was.
  if (letters === 0) return syllables(bytes, 2) + digits;
  return syllables(bytes, letters >= 5 ? 3 : 2) + digits;
}

/** Each `-`/`_`-separated part replaced, separators kept: `gpu-server` → `tepa-lokimu`. */
function pseudoName(bytes: Bytes, name: string): string {
  return name
    .split(/([-_])/)
    .map((part, i) => (i % 2 === 1 ? part : pseudoWord(bytes, part)))
    .join('');
}

/** Every label but the last replaced when there are several: `db01.acme.corp` → `kela01.tosupa.corp`. */
function pseudoDotted(bytes: Bytes, name: string): string {
  const labels = name.split('.');
  const keepLast = labels.length > 1;
  return labels.map((l, i) => (keepLast && i === labels.length - 1 ? l : pseudoName(bytes, l))).join('.');
}

function pseudoPath(bytes: Bytes, path: string): string {
  return path
    .split('/')
    .map((segment) => {
      if (segment === '') return segment;
      const dot = segment.lastIndexOf('.');
      return dot > 0 ? pseudoName(bytes, segment.slice(0, dot)) + segment.slice(dot) : pseudoName(bytes, segment);
    })
    .join('/');
}

const SAFE_PUNCTUATION = /[-_.:/@+# ]/;

/** Letters stay letters (same case), digits stay digits: `ACME-1234` → `QZRT-8812`. */
function pseudoChars(bytes: Bytes, value: string): string {
  let out = '';
  for (const c of value) {
    if (c >= 'a' && c <= 'z') out += String.fromCharCode(97 + bytes.below(26));
    else if (c >= 'A' && c <= 'Z') out += String.fromCharCode(65 + bytes.below(26));
    else if (c >= '0' && c <= '9') out += String.fromCharCode(48 + bytes.below(10));
    else out += SAFE_PUNCTUATION.test(c) ? c : '-';
  }
  return out;
}

/**
 * Where pseudonymous addresses live: 198.18.0.0/15 (RFC 2544, benchmarking:
 * never routed, never in anyone's config), 512 /24s; beyond that, 240.0.0.0/4
 * (reserved). Each original /24 gets its own pseudonymous /24 and the host
 * octet is kept: two hosts of one subnet stay in one subnet, `.254` stays the
 * gateway.
 */
const BENCH_SLOTS = 512;
const RESERVED_SLOTS = 1 << 20;

function slotPrefix(slot: number): string {
  if (slot < BENCH_SLOTS) return `198.${18 + (slot >> 8)}.${slot & 255}`;
  const s = slot - BENCH_SLOTS;
  return `${240 + (s >> 16)}.${(s >> 8) & 255}.${s & 255}`;
}

export interface PseudonymizerOptions {
  readonly secret: Uint8Array;
  readonly store: MappingStore;
  /** Declared domains: `<domain>-<machine>` keeps the domain's pseudonym as its prefix. */
  readonly domains: readonly string[];
  /** Declared names and their kind: a host name whose first label is one (`pro-db.acme.corp`) keeps that name's pseudonym as its first label. */
  readonly declared?: ReadonlyMap<string, ValueKind>;
  /** Told about every pseudonym handed out (new or remembered), so restoring knows it. */
  readonly onPseudonym: (pseudonym: string, original: string) => void;
}

/**
 * Format-preserving, deterministic, collision-free pseudonyms. A candidate is
 * refused when it is already another value's pseudonym, when it is itself an
 * original the store knows, or when it appears anywhere in the text being
 * sanitized; the next candidate is then derived (attempt + 1).
 */
export class Pseudonymizer {
  private readonly domainsByLength: readonly string[];
  /** Set when a sweep found every benchmarking /24 taken: the store only grows, so they stay taken. */
  private benchSlotsFull = false;

  constructor(private readonly options: PseudonymizerOptions) {
    this.domainsByLength = [...options.domains].sort((a, b) => b.length - a.length);
  }

  /** `text`: the text being sanitized, where a candidate must not already appear. */
  pseudonym(value: string, kind: ValueKind, text: TextOccurrences): string {
    const { store } = this.options;
    const known = store.pseudonymOf(value);
    if (known !== undefined) {
      this.options.onPseudonym(known, value);
      return known;
    }
    if (kind === 'ip' || kind === 'cidr') return this.address(value, text);
    if (kind === 'ip6' || kind === 'cidr6') return this.address6(value, text);
    if (kind === 'mac') return this.mac(value, text);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const candidate = this.derive(value, kind, attempt, text);
      if (this.isFree(candidate, value) && !text.mayContain(candidate)) return this.record(value, candidate);
    }
    throw new SanitizeError(`no free pseudonym for a ${kind} after ${MAX_ATTEMPTS} attempts`);
  }

  private isFree(candidate: string, value: string): boolean {
    const { store } = this.options;
    return candidate !== value && candidate !== '' && store.originalOf(candidate) === undefined && store.pseudonymOf(candidate) === undefined;
  }

  private record(value: string, pseudonym: string): string {
    this.options.store.record(value, pseudonym);
    this.options.onPseudonym(pseudonym, value);
    return pseudonym;
  }

  private bytes(kind: string, value: string, attempt: number): Bytes {
    // Two-syllable words are 4 900: with thousands of short names, later attempts get longer words.
    return new Bytes(this.options.secret, `${kind}\u0000${value}\u0000${attempt}`, attempt >> 4);
  }

  private derive(value: string, kind: ValueKind, attempt: number, text: TextOccurrences): string {
    const bytes = this.bytes(kind, value, attempt);
    switch (kind) {
      case 'domain':
        return syllables(bytes, 3);
      case 'bridge': {
        // `net-<domain>` → `net-<the domain's pseudonym>`, at most 15 characters.
        const tail = value.slice(4);
        if (attempt === 0 && tail.length > 0) return `net-${this.pseudonym(tail, 'domain', text)}`;
        return `net-${syllables(bytes, 3)}`;
      }
      case 'instance': {
        // `<project>_<instance>`, Incus's name of a storage volume on disk: both halves as they are elsewhere.
        const underscore = value.indexOf('_');
        const project = underscore > 0 ? value.slice(0, underscore) : '';
        if (attempt === 0 && this.options.domains.includes(project) && underscore < value.length - 1) {
          return `${this.pseudonym(project, 'domain', text)}_${this.pseudonym(value.slice(underscore + 1), 'instance', text)}`;
        }
        const domain = this.domainsByLength.find((d) => value.startsWith(`${d}-`) && value.length > d.length + 1);
        if (domain === undefined) return pseudoName(bytes, value);
        return `${this.pseudonym(domain, 'domain', text)}-${pseudoName(bytes, value.slice(domain.length + 1))}`;
      }
      case 'host':
      case 'fqdn':
        return (attempt === 0 ? this.declaredHost(value, text) : null) ?? pseudoDotted(bytes, value);
      case 'path':
        return pseudoPath(bytes, value);
      case 'name':
        return pseudoName(bytes, value);
      case 'custom':
        return pseudoChars(bytes, value);
      case 'ip':
      case 'cidr':
      case 'ip6':
      case 'cidr6':
      case 'mac':
      case 'secret':
      case 'generalized':
        throw new SanitizeError(`a ${kind} has no name pseudonym`);
    }
  }

  /**
   * `pro-db.acme.corp` → `<pro-db's pseudonym>.<acme.corp's pseudonym>`: the
   * machine is recognisably the same machine as where its name stands alone,
   * and the domain name is the same in every host name of it. Null when the
   * first label is no declared name nor `<domain>-…`, or there is no tail of
   * two labels (`pro-db.internal` keeps its one label as any FQDN does).
   */
  private declaredHost(value: string, text: TextOccurrences): string | null {
    const dot = value.indexOf('.');
    if (dot <= 0 || value.indexOf('.', dot + 1) < 0) return null;
    const first = value.slice(0, dot);
    const kind = this.options.declared?.get(first) ?? (this.domainsByLength.some((d) => first.startsWith(`${d}-`) && first.length > d.length + 1) ? 'instance' : undefined);
    if (kind === undefined || kind === 'fqdn' || kind === 'host') return null;
    return `${this.pseudonym(first, kind, text)}.${this.pseudonym(value.slice(dot + 1), 'fqdn', text)}`;
  }

  /** `a.b.c.d` or `a.b.c.d/n`: the /24's pseudonym, host octet kept. */
  private address(value: string, text: TextOccurrences): string {
    const [address = '', prefix] = value.split('/');
    const octets = address.split('.');
    const net = `${octets[0]}.${octets[1]}.${octets[2]}.0/24`;
    const netPseudonym = value === net ? this.subnet(net, text) : this.pseudonym(net, 'cidr', text);
    const pseudoAddress = `${netPseudonym.slice(0, netPseudonym.lastIndexOf('.'))}.${octets[3]}`;
    if (value === net) return netPseudonym;
    const candidate = prefix === undefined ? pseudoAddress : `${pseudoAddress}/${prefix}`;
    const owner = this.options.store.originalOf(candidate);
    if (owner !== undefined && owner !== value) {
      throw new SanitizeError(`the pseudonymous address of a ${prefix === undefined ? 'host' : 'network'} is already another value's pseudonym`);
    }
    return this.record(value, candidate);
  }

  /**
   * The NIC part of a MAC (its last three bytes), derived from the address
   * alone: every notation of one MAC gets the same bytes, and so does the
   * interface identifier an IPv6 address derives from it (EUI-64). The vendor
   * part (OUI: Incus's `10:66:6a`) is general knowledge and stays.
   */
  private macBytes(bytes: readonly number[], attempt: number): number[] {
    const normal = bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
    const derived = this.bytes('mac', normal, attempt);
    return [...bytes.slice(0, 3), derived.next(), derived.next(), derived.next()];
  }

  /** A MAC in its own notation (separator, case), its NIC bytes replaced. */
  private mac(value: string, text: TextOccurrences): string {
    const mac = readMacAt(value, 0);
    if (mac === null) throw new SanitizeError('not a MAC address');
    const sep = value.includes('-') ? '-' : value.includes(':') ? ':' : '.';
    const upper = /[A-F]/.test(value);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const hex = this.macBytes(mac.bytes, attempt).map((b) => b.toString(16).padStart(2, '0'));
      let candidate = sep === '.' ? `${hex[0]}${hex[1]}.${hex[2]}${hex[3]}.${hex[4]}${hex[5]}` : hex.join(sep);
      if (upper) candidate = candidate.toUpperCase();
      if (this.isFree(candidate, value) && !text.mayContain(candidate)) return this.record(value, candidate);
    }
    throw new SanitizeError(`no free pseudonym for a MAC address after ${MAX_ATTEMPTS} attempts`);
  }

  /**
   * An IPv6 address or prefix, in its own notation (compressed or not, leading
   * zeros, case). Its /64 gets a /64 of 2001:db8::/32 (RFC 3849, documentation:
   * routed nowhere), so two addresses of one /64 stay in one /64; link-local
   * keeps `fe80::/64`, which is the same on every link. The interface
   * identifier: kept when small (`::1`, `::254`), derived from the MAC's
   * pseudonym when it is EUI-64 (so the host's MAC and its addresses still
   * match), else derived from the identifier alone.
   */
  private address6(value: string, text: TextOccurrences): string {
    const slash = value.indexOf('/');
    const written = slash < 0 ? value : value.slice(0, slash);
    const groups = parseIpv6(written);
    if (groups === null) throw new SanitizeError('not an IPv6 address');
    const net = (groups[0] & 0xffc0) === 0xfe80 ? groups.slice(0, 4) : this.subnet6(groups.slice(0, 4), text);
    const iid = groups.slice(4);
    let pseudoIid = iid;
    if (iid[0] !== 0 || iid[1] !== 0 || iid[2] !== 0) {
      const [a = 0, b = 0, c = 0, d = 0] = iid;
      if ((b & 0xff) === 0xff && c >> 8 === 0xfe) {
        const m = this.macBytes([(a >> 8) ^ 0x02, a & 0xff, b >> 8, c & 0xff, d >> 8, d & 0xff], 0);
        pseudoIid = [(((m[0] ?? 0) ^ 0x02) << 8) | (m[1] ?? 0), ((m[2] ?? 0) << 8) | 0xff, 0xfe00 | (m[3] ?? 0), ((m[4] ?? 0) << 8) | (m[5] ?? 0)];
      } else {
        const derived = this.bytes('iid', iid.map((x) => x.toString(16)).join(':'), 0);
        // The top group never 0: a derived identifier is never mistaken for a small one.
        pseudoIid = [((derived.next() << 8) | derived.next()) | 0x0100, (derived.next() << 8) | derived.next(), (derived.next() << 8) | derived.next(), (derived.next() << 8) | derived.next()];
      }
    }
    const style = { upper: /[A-F]/.test(written), compress: written.includes('::'), expanded: !written.includes('::') && written.split(':').some((g) => g.length === 4 && g.startsWith('0')) };
    const candidate = formatIpv6([...net, ...pseudoIid], style) + (slash < 0 ? '' : value.slice(slash));
    const owner = this.options.store.originalOf(candidate);
    if (owner !== undefined && owner !== value) throw new SanitizeError("the pseudonymous IPv6 address is already another value's pseudonym");
    return this.record(value, candidate);
  }

  /** A /64 of 2001:db8::/32 for an original /64 (recorded as `prefix::/64`). */
  private subnet6(net: readonly number[], text: TextOccurrences): number[] {
    const key = `${formatIpv6([...net, 0, 0, 0, 0])}/64`;
    const known = this.options.store.pseudonymOf(key);
    const asGroups = (p: string): number[] => (parseIpv6(p.slice(0, p.indexOf('/'))) ?? []).slice(0, 4);
    if (known !== undefined) {
      this.options.onPseudonym(known, key);
      return asGroups(known);
    }
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const bytes = this.bytes('subnet6', key, attempt);
      const groups = [0x2001, 0x0db8, (bytes.next() << 8) | bytes.next(), (bytes.next() << 8) | bytes.next()];
      const candidate = `${formatIpv6([...groups, 0, 0, 0, 0])}/64`;
      if (this.isFree(candidate, key) && !text.mayContain(formatIpv6(groups, { compress: false }))) {
        this.record(key, candidate);
        return groups;
      }
    }
    throw new SanitizeError('no free pseudonymous IPv6 /64 left');
  }

  private subnet(net: string, text: TextOccurrences): string {
    const first = this.bytes('subnet', net, 0).below(BENCH_SLOTS);
    let sweptFull = true;
    // Every benchmarking /24 was taken by an earlier sweep: go straight to the reserved block.
    for (let attempt = this.benchSlotsFull ? MAX_ATTEMPTS / 2 + BENCH_SLOTS : 0; attempt < MAX_ATTEMPTS + BENCH_SLOTS; attempt++) {
      let slot: number;
      if (attempt < MAX_ATTEMPTS / 2) slot = attempt === 0 ? first : this.bytes('subnet', net, attempt).below(BENCH_SLOTS);
      else if (attempt < MAX_ATTEMPTS / 2 + BENCH_SLOTS) slot = (first + attempt) % BENCH_SLOTS;
      else {
        if (attempt === MAX_ATTEMPTS / 2 + BENCH_SLOTS && sweptFull) this.benchSlotsFull = true;
        slot = BENCH_SLOTS + this.bytes('subnet', net, attempt).below(RESERVED_SLOTS - 256);
      }
      const prefix = slotPrefix(slot);
      const candidate = `${prefix}.0/24`;
      const free = this.isFree(candidate, net);
      if (free && !text.hasAddressIn(prefix)) return this.record(net, candidate);
      // A slot refused only because this text holds it may be free next time.
      if (free) sweptFull = false;
    }
    throw new SanitizeError('no free pseudonymous /24 left');
  }
}
