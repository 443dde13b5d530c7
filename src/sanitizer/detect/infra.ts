import type { IdentifierDictionary } from '../types.js';
import { DNS_NAME, escapeRegex, identBefore, wholeNameAt, type TriggeredDetector, type ValueKind } from './candidate.js';
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
      push({ start: at, end: anchorEnd, category: 'infra', ...entry });
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
