import type { Category, IdentifierDictionary } from '../types.js';
import { ansibleHostDetector, ansiblePathDetector } from './ansible.js';
import { isWordChar, type Candidate, type Push, type TriggeredDetector } from './candidate.js';
import { hexDumpLine, tcpdumpAsciiLine, tsharkDataLine } from './capture.js';
import { commandLineDetector } from './command-line.js';
import { bearerDetector, jwtDetector, keyValueDetector, privateKeyDetector, scanBase64, vendorKeyDetector } from './credentials.js';
import { scanCustom, type CustomPattern } from './custom.js';
import { firstUnits } from './first-units.js';
import { fqdnDetector } from './fqdn.js';
import { bridgeDetector, incusCommandDetector, instanceDetector } from './incus.js';
import { dashedPathDetector, domainContextDetector, infraNameDetector, infraNames, projectPrefixDetector } from './infra.js';
import { ipDetector } from './ip.js';
import { scanHexAddresses } from './hex-addresses.js';
import { formatIpv6, parseIpv6, type Ipv6DetectorOptions } from './ipv6.js';
import { incusPathDetector } from './service.js';
import { TextScan } from './text-scan.js';
import { structureDetectors } from './structure.js';
import { urlDetector } from './url.js';
import { nmapPortLine, nmapXmlVersionDetector, sshBannerDetector } from './versions.js';

export type SwitchableCategory = Exclude<Category, 'infra' | 'custom'>;

export interface ScannerOptions {
  readonly dictionary: IdentifierDictionary;
  readonly enabled: Readonly<Record<SwitchableCategory, boolean>>;
  readonly custom: readonly CustomPattern[];
  readonly allow: ReadonlySet<string>;
}

/**
 * When two found values overlap, the one of the earlier category here wins,
 * then the longer one, then the earlier one: a secret is never left half
 * visible because an address inside it was found too, and a declared name
 * beats a generic pattern.
 */
const RANK: Readonly<Record<Category, number>> = { credentials: 0, custom: 1, infra: 2, service: 3, ansible: 4, incus: 5, fqdn: 6, ip: 7 };

export type Scanner = (text: string) => Candidate[];

/**
 * Build the scanner of one domain. Every triggered detector's anchor goes into
 * one combined regex, so the text is read once for all of them; base64 runs
 * and the extra patterns are separate passes (they can start anywhere).
 */
export function createScanner(options: ScannerOptions): Scanner {
  const { dictionary, enabled } = options;
  const { detectors, lineLooks } = scannerParts(options);

  // No capturing group per detector: a match array with a slot for each of them, on every
  // anchor, was a third of the engine's garbage. Whose anchor it is, is found after (`owner`).
  const combined = new RegExp(detectors.map((d) => `(?:${d.trigger})`).join('|'), 'gm');
  // Each anchor alone: to tell whose anchor matched, and to give the next detectors their turn where the first one found nothing.
  const sticky = detectors.map((d) => new RegExp(d.trigger, 'ym'));
  // The units each anchor can start with (null: any), so that telling whose anchor it is tries only those that can.
  const firsts = detectors.map((d) => firstUnits(d.trigger));
  /**
   * The detector whose anchor the combined regex matched at `at`, ending at
   * `end`: the first one, in order, whose anchor matches there (as in the
   * alternation). Skipping those that cannot start with this unit changes
   * nothing; the end is checked against the combined match all the same, and
   * on any disagreement every detector is tried. None at all cannot happen,
   * and fails the scan (nothing leaves) rather than skip the anchor.
   */
  const firstMatching = (text: string, at: number, end: number, filtered: boolean): number => {
    const unit = text.charCodeAt(at);
    for (let j = 0; j < detectors.length; j++) {
      if (filtered && firsts[j]?.[unit] === 0) continue;
      const anchor = sticky[j] as RegExp;
      anchor.lastIndex = at;
      if (anchor.test(text)) return anchor.lastIndex === end ? j : -1;
    }
    return -1;
  };
  const owner = (text: string, at: number, end: number): number => {
    const j = firstMatching(text, at, end, true);
    if (j >= 0) return j;
    const k = firstMatching(text, at, end, false);
    if (k >= 0) return k;
    throw new Error(`no detector owns the anchor at ${at}`);
  };
  const { allow } = options;
  const hexOptions = { ...declaredIpv6(dictionary), enabled: enabled.ip, mac: enabled.ip };

  return (text) => {
    const found: Candidate[] = [];
    const push: Push = (c) => {
      if (c.end <= c.start || (allow.size > 0 && allow.has(text.slice(c.start, c.end)))) return;
      // A pseudonym is found again only as a whole word: a value glued to a letter or digit could not be restored.
      if (c.kind !== 'secret' && c.kind !== 'generalized' && (gluedBefore(text, c.start) || gluedAfter(text, c.end))) return;
      found.push(c);
    };
    const memo = new TextScan(text);
    const lines = new LineStarts(text, lineLooks, push, memo);
    lines.lookAt(0);
    let from = 0;
    combined.lastIndex = 0;
    for (let m = combined.exec(text); m !== null; m = combined.exec(text)) {
      const at = m.index;
      const i = owner(text, at, at + m[0].length);
      // The lines that start before this anchor come first, as if `\n` were one more anchor.
      lines.between(from, at);
      let resume = detectors[i]?.detect(text, at, at + m[0].length, push, memo) ?? null;
      for (let j = i + 1; resume === null && j < detectors.length; j++) {
        if (firsts[j]?.[text.charCodeAt(at)] === 0) continue;
        const anchor = sticky[j] as RegExp;
        anchor.lastIndex = at;
        if (anchor.test(text)) resume = detectors[j]?.detect(text, at, anchor.lastIndex, push, memo) ?? null;
      }
      combined.lastIndex = resume === null ? at + 1 : Math.max(resume, at + 1);
      from = combined.lastIndex;
    }
    lines.between(from, text.length);
    if (enabled.credentials) scanBase64(text, push);
    scanHexAddresses(text, push, hexOptions);
    scanCustom(text, options.custom, push);
    return resolveOverlaps(found);
  };
}

/** The triggered detectors of a scanner, in order, and what it looks at on each line. */
function scannerParts(options: ScannerOptions): { detectors: TriggeredDetector[]; lineLooks: LineLook[] } {
  const { dictionary, enabled } = options;
  const names = infraNames(dictionary);
  const isOn = (c: Category): boolean => c === 'infra' || c === 'custom' || enabled[c];
  const detectors: TriggeredDetector[] = [];
  const add = (on: boolean, detector: TriggeredDetector | null): void => {
    if (on && detector !== null) detectors.push(detector);
  };
  // Order matters where anchors start at the same place: the first listed is tried first.
  add(true, infraNameDetector(names));
  add(true, domainContextDetector(names));
  add(true, dashedPathDetector(names));
  const structure = structureDetectors(names.domains);
  const capture = enabled.credentials ? [hexDumpLine, tcpdumpAsciiLine, tsharkDataLine] : [];
  const lineLooks = [structure?.line, enabled.service ? nmapPortLine : undefined, ...capture].filter((l): l is LineLook => l !== undefined);
  add(true, structure?.inline ?? null);
  add(true, projectPrefixDetector(names));
  add(enabled.credentials, privateKeyDetector());
  add(enabled.credentials, vendorKeyDetector());
  add(enabled.credentials, jwtDetector());
  add(enabled.credentials, bearerDetector());
  add(enabled.credentials, keyValueDetector());
  add(enabled.credentials, commandLineDetector());
  add(enabled.credentials || enabled.service, urlDetector(isOn));
  add(enabled.ansible, ansibleHostDetector());
  add(enabled.ansible, ansiblePathDetector());
  add(enabled.service, incusPathDetector());
  add(enabled.service, nmapXmlVersionDetector());
  add(enabled.service, sshBannerDetector());
  add(enabled.incus, incusCommandDetector());
  add(enabled.incus, bridgeDetector());
  add(enabled.incus, instanceDetector(dictionary.domains));
  add(enabled.fqdn, fqdnDetector());
  add(true, ipDetector({ addresses: new Set(dictionary.addresses), subnets: new Set(dictionary.subnets), enabled: enabled.ip }));
  return { detectors, lineLooks };
}

/** The anchors of the scanner built from `options`, in order (tests check what is derived from them). */
export function anchorTriggers(options: ScannerOptions): string[] {
  return scannerParts(options).detectors.map((d) => d.trigger);
}

/** The IPv6 entries of the dictionary's addresses and subnets (they may hold both families). */
function declaredIpv6(dictionary: IdentifierDictionary): Omit<Ipv6DetectorOptions, 'enabled'> {
  const prefixes: Ipv6DetectorOptions['prefixes'][number][] = [];
  for (const subnet of dictionary.subnets) {
    const [address = '', bits = ''] = subnet.split('/');
    const groups = address.includes(':') ? parseIpv6(address) : null;
    if (groups !== null && /^\d{1,3}$/.test(bits) && Number(bits) <= 128) prefixes.push({ groups, bits: Number(bits), text: subnet });
  }
  const addresses = new Set<string>();
  for (const address of dictionary.addresses) {
    const groups = address.includes(':') ? parseIpv6(address) : null;
    if (groups !== null) addresses.add(formatIpv6(groups));
  }
  return { prefixes, addresses };
}

type LineLook = (text: string, lineStart: number, push: Push, scan: TextScan) => void;

/**
 * What a line starts with decides some detections (structure, nmap's port
 * table, packet dumps). Newlines are found by indexOf, not by an anchor of the
 * combined regex: an anchor on `\n` stopped the regex at every line (a quarter
 * of the engine's time on a long conversation). The effect is the same as such
 * an anchor listed first among those that could start at a newline (none other
 * can): each line start is looked at in text order with the other anchors,
 * except where a detector skipped over it (a PEM block, a long secret run).
 */
class LineStarts {
  /** The first newline at or after the last position asked for (-1: none left). */
  private next: number;

  constructor(
    private readonly text: string,
    private readonly looks: readonly LineLook[],
    private readonly push: Push,
    private readonly scan: TextScan,
  ) {
    this.next = looks.length === 0 ? -1 : text.indexOf('\n');
  }

  lookAt(lineStart: number): void {
    for (const look of this.looks) look(this.text, lineStart, this.push, this.scan);
  }

  /** Look at the line after each newline in [from, to). */
  between(from: number, to: number): void {
    if (this.next !== -1 && this.next < from) this.next = this.text.indexOf('\n', from);
    while (this.next !== -1 && this.next < to) {
      this.lookAt(this.next + 1);
      this.next = this.text.indexOf('\n', this.next + 1);
    }
  }
}

function gluedBefore(text: string, start: number): boolean {
  return start > 0 && isWordChar(text.charCodeAt(start)) && isWordChar(text.charCodeAt(start - 1));
}

function gluedAfter(text: string, end: number): boolean {
  return end < text.length && isWordChar(text.charCodeAt(end - 1)) && isWordChar(text.charCodeAt(end));
}

/** Keep a set of non-overlapping candidates (see RANK), in text order. */
export function resolveOverlaps(found: Candidate[]): Candidate[] {
  if (found.length <= 1) return found;
  // Most candidates overlap nothing: sort by position, and rank only within
  // clusters of candidates that overlap each other. Detectors mostly push in
  // text order: then there is nothing to sort (a sort of a million candidates
  // was most of the time on adversarial inputs). The sort is stable: among
  // candidates that start at the same place, push order breaks the last tie.
  let inOrder = true;
  for (let i = 1; i < found.length && inOrder; i++) inOrder = (found[i - 1] as Candidate).start <= (found[i] as Candidate).start;
  // Nothing is allocated per candidate (a wrapper object each was a fifth of
  // the engine's garbage): a cluster is a range [from, i) of `sorted`.
  const sorted = inOrder ? found : [...found].sort((a, b) => a.start - b.start);
  const kept: Candidate[] = [];
  let from = 0;
  let clusterEnd = -1;
  for (let i = 0; i <= sorted.length; i++) {
    const c = sorted[i];
    if (c !== undefined && c.start < clusterEnd) {
      clusterEnd = Math.max(clusterEnd, c.end);
      continue;
    }
    if (i - from === 1) kept.push(sorted[from] as Candidate);
    else if (i - from === 2) kept.push(better(sorted[from] as Candidate, sorted[from + 1] as Candidate));
    else if (i - from > 2) for (const k of rankCluster(sorted, from, i)) kept.push(k);
    from = i;
    clusterEnd = c?.end ?? -1;
  }
  return kept;
}

/** Negative when `a` wins over `b` (category, then length, then position); 0 on a tie. */
function compareRank(a: Candidate, b: Candidate): number {
  return RANK[a.category] - RANK[b.category] || b.end - b.start - (a.end - a.start) || a.start - b.start;
}

/** Of two overlapping candidates (`a` pushed or starting first), the one kept: the commonest cluster, without a sort. */
function better(a: Candidate, b: Candidate): Candidate {
  return compareRank(a, b) <= 0 ? a : b;
}

/** The candidates of `sorted[from, to)`, a cluster of overlapping ones, that survive, in text order. */
function rankCluster(sorted: readonly Candidate[], from: number, to: number): Candidate[] {
  const order = sorted.slice(from, to);
  // Stable: equal ranks keep their order in `sorted`, which is push order among equal starts.
  order.sort(compareRank);
  const kept: Candidate[] = [];
  for (const c of order) {
    // kept is sorted by start: find the neighbours by binary search.
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((kept[mid]?.start ?? 0) < c.start) lo = mid + 1;
      else hi = mid;
    }
    const next = kept[lo];
    const prev = kept[lo - 1];
    if ((next !== undefined && next.start < c.end) || (prev !== undefined && prev.end > c.start)) continue;
    kept.splice(lo, 0, c);
  }
  return kept;
}
