import type { IdentifierDictionary } from '../types.js';
import { DNS_NAME, escapeRegex, identBefore, wholeNameAt, type TriggeredDetector, type ValueKind } from './candidate.js';
import { fqdnTailEnd } from './fqdn.js';
import { ORDINARY_NAMES } from './words.js';

interface NameEntry {
  readonly kind: ValueKind;
  readonly pattern: string;
}

export interface InfraNames {
  /** Replaced wherever they stand as a whole identifier. */
  readonly always: ReadonlyMap<string, NameEntry>;
  /** Declared domain and project names, ordinary words included: replaced after `--project`, `project:`, `domain:`. */
  readonly domains: ReadonlySet<string>;
}

/**
 * Sort the dictionary's names into those replaced everywhere and those that are
 * ordinary words (see ORDINARY_NAMES). Bridges, hyphenated instance names and
 * FQDNs are always identifiers; a single-word name is one unless it is an
 * ordinary word. Where a string is several things, the most specific wins:
 * instance, bridge, FQDN, domain, project.
 */
export function infraNames(dictionary: IdentifierDictionary): InfraNames {
  const always = new Map<string, NameEntry>();
  const add = (names: readonly string[], entry: NameEntry, ordinaryAllowed: boolean): void => {
    for (const name of names) {
      if (name === '' || always.has(name)) continue;
      if (!ordinaryAllowed && ORDINARY_NAMES.has(name)) continue;
      always.set(name, entry);
    }
  };
  add(dictionary.instances.filter((n) => n.includes('-')), { kind: 'instance', pattern: 'infra.instance' }, true);
  add(dictionary.bridges, { kind: 'bridge', pattern: 'infra.bridge' }, true);
  add(dictionary.fqdns, { kind: 'fqdn', pattern: 'infra.fqdn' }, true);
  add(dictionary.instances, { kind: 'instance', pattern: 'infra.instance' }, false);
  add(dictionary.domains, { kind: 'domain', pattern: 'infra.domain' }, false);
  add(dictionary.projects, { kind: 'domain', pattern: 'infra.project' }, false);
  return { always, domains: new Set([...dictionary.domains, ...dictionary.projects].filter((n) => n !== '')) };
}

/** The declared names, as one alternation (longest first), on identifier boundaries. */
export function infraNameDetector(names: InfraNames): TriggeredDetector | null {
  if (names.always.size === 0) return null;
  const alternation = [...names.always.keys()]
    .sort((a, b) => b.length - a.length || (a < b ? -1 : 1))
    .map(escapeRegex)
    .join('|');
  return {
    // `pro` is not found in `project`, `net-pro` or `pro_x`; `pro-dev` is found in `pro-dev.internal`.
    trigger: `(?:${alternation})(?![\\w-])`,
    detect(text, at, anchorEnd, push) {
      const entry = names.always.get(text.slice(at, anchorEnd));
      if (entry === undefined || identBefore(text, at)) return null;
      // `pro-db.acme.corp`: the whole host name is one value (its first label keeps the name's pseudonym); the tail would say too much.
      const tail = entry.kind === 'fqdn' ? -1 : fqdnTailEnd(text, anchorEnd, anchorEnd - at);
      if (tail > 0) push({ start: at, end: tail, category: 'infra', pattern: 'infra.instance-fqdn', kind: 'fqdn' });
      else push({ start: at, end: anchorEnd, category: 'infra', ...entry });
      return anchorEnd;
    },
  };
}

/** `--project pro`, `project: pro`, `"domain": "pro"`: a declared domain even when its name is an ordinary word. */
export function domainContextDetector(names: InfraNames): TriggeredDetector | null {
  if (names.domains.size === 0) return null;
  return {
    trigger: `(?:--project[= ]|(?:project|domain)["']?[ \\t]*[:=][ \\t]*["']?)`,
    detect(text, at, anchorEnd, push) {
      if (identBefore(text, at) && !text.startsWith('--', at)) return null;
      const name = wholeNameAt(text, anchorEnd);
      if (name === null || !names.domains.has(name) || !DNS_NAME.test(name)) return null;
      push({ start: anchorEnd, end: anchorEnd + name.length, category: 'infra', pattern: 'infra.domain', kind: 'domain' });
      return anchorEnd;
    },
  };
}

/**
 * Incus names its storage volumes on disk `<project>_<instance>`
 * (`/var/lib/incus/storage-pools/default/containers/pro_pro-web`, and in
 * `zfs list`, `btrfs subvolume list`, `lvs`): a declared project glued to an
 * instance name by `_`. The whole is one value (its pseudonym keeps the
 * project's and the instance's).
 */
export function projectPrefixDetector(names: InfraNames): TriggeredDetector | null {
  if (names.domains.size === 0) return null;
  const alternation = [...names.domains].sort((a, b) => b.length - a.length).map(escapeRegex).join('|');
  return {
    trigger: `(?:${alternation})_(?=[a-z0-9])`,
    detect(text, at, anchorEnd, push) {
      if (identBefore(text, at) || !names.domains.has(text.slice(at, anchorEnd - 1))) return null;
      const tail = wholeNameAt(text, anchorEnd);
      if (tail === null) return null;
      const end = anchorEnd + tail.length;
      // `client_secret`: after a project that is an ordinary word, only a known instance name (or `<domain>-…`) makes a volume.
      const project = text.slice(at, anchorEnd - 1);
      if (ORDINARY_NAMES.has(project) && !names.always.has(tail) && ![...names.domains].some((d) => tail.startsWith(`${d}-`))) return null;
      push({ start: at, end, category: 'incus', pattern: 'incus.volume', kind: 'instance' });
      return anchorEnd;
    },
  };
}

/** Letters, digits and `-`: what a path becomes once every other character is turned into `-`. */
function isDashedPathChar(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 45;
}

/**
 * Claude Code names a project's folder after its working directory, every
 * character but letters and digits turned into `-`: `/srv/work/pro-web` gives
 * `~/.claude/projects/-srv-work-pro-web/`, and that path is in its system
 * prompt. In a path segment that starts with `-`, the declared names are
 * found between `-`s (and the segment's ends), longest first: `pro-web` in
 * `-srv-work-pro-web`, but nothing in `-srv-work-prose`. Only names replaced
 * everywhere are looked for: a domain named after an ordinary word stays a
 * word here as it does in `/srv/work/pro`. Where the `/`s were is lost, so a
 * name is looked for as whole `-`-separated parts, never inside one.
 */
export function dashedPathDetector(names: InfraNames): TriggeredDetector | null {
  const entries = [...names.always].filter(([name, entry]) => entry.kind !== 'fqdn' && /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(name));
  if (entries.length === 0) return null;
  const byName = new Map(entries);
  const maxParts = Math.max(...entries.map(([name]) => name.split('-').length));
  const maxLength = Math.max(...entries.map(([name]) => name.length));
  return {
    trigger: '/-(?=[a-z0-9])',
    detect(text, at, anchorEnd, push, scan) {
      const end = scan.runEnd(isDashedPathChar, anchorEnd);
      // Part by part; at each part's start, the ends of the next parts that a name could span
      // (at most maxParts of them, within maxLength): each character is read a bounded number of times.
      const ends: number[] = [];
      for (let start = anchorEnd; start < end; ) {
        ends.length = 0;
        for (let to = start; ends.length < maxParts && to <= end && to - start <= maxLength; to++) {
          if (to === end || text.charCodeAt(to) === 45) ends.push(to);
        }
        let taken = -1;
        for (let k = ends.length - 1; k >= 0 && taken < 0; k--) {
          const stop = ends[k] ?? start;
          const entry = stop > start ? byName.get(text.slice(start, stop)) : undefined;
          if (entry === undefined) continue;
          push({ start, end: stop, category: 'infra', ...entry });
          taken = stop;
        }
        // After the name found, or after the first part.
        const next = taken >= 0 ? taken : text.indexOf('-', start);
        start = next < 0 || next >= end ? end : next + 1;
      }
      // Past the anchor, not the segment: other anchors inside it get their turn (the overlap ranking decides).
      return anchorEnd;
    },
  };
}
