import type { IncusEvent, LifecycleMetadata } from '../../incus/types.js';

/** One Incus event as a domain's view shows it. */
export interface ViewEvent {
  readonly time: string;
  /** `instance-started`, `instance-snapshot-created`, `network-updated`, ... */
  readonly action: string;
  /** The object's kind and name (`instance`, `c1`). */
  readonly kind: string;
  readonly name: string;
}

/**
 * Lifecycle actions worth showing a domain: what changes its instances, their
 * snapshots, its bridge and its project. An allow list: reads, execs and file
 * transfers emit events too (anklume's own health checks among them) and
 * would push everything else out of the ring.
 */
const SHOWN = new Set([
  ...['created', 'updated', 'renamed', 'deleted', 'started', 'stopped', 'shutdown', 'restarted', 'paused', 'resumed', 'ready', 'restored'].map((a) => `instance-${a}`),
  ...['created', 'updated', 'renamed', 'deleted'].map((a) => `instance-snapshot-${a}`),
  ...['created', 'updated', 'renamed', 'deleted'].flatMap((a) => [`network-${a}`, `project-${a}`]),
]);

/**
 * The domain an event belongs to and how it is shown, or null. Instances and
 * snapshots belong to their project (`?project=` of the source, else the
 * envelope's); a bridge `net-<d>` (project default) and a project to the
 * domain of their name. `isDomain` says which names are domains.
 */
export function viewEventOf(event: IncusEvent, isDomain: (name: string) => boolean): { readonly domain: string; readonly event: ViewEvent } | null {
  if (event.type !== 'lifecycle') return null;
  const meta = event.metadata as Partial<LifecycleMetadata> | null | undefined;
  if (meta == null || typeof meta.action !== 'string' || typeof meta.source !== 'string' || !SHOWN.has(meta.action)) return null;
  let url: URL;
  try {
    url = new URL(meta.source, 'http://incus.invalid');
  } catch {
    return null;
  }
  const [version, collection, rawName, , rawSnapshot] = url.pathname.split('/').filter((s) => s !== '');
  if (version !== '1.0' || collection === undefined || rawName === undefined) return null;
  let name: string;
  try {
    name = decodeURIComponent(rawSnapshot === undefined ? rawName : `${rawName}/${rawSnapshot}`);
  } catch {
    return null;
  }
  const time = typeof event.timestamp === 'string' ? event.timestamp : new Date().toISOString();
  let domain: string | null = null;
  let kind: string;
  if (collection === 'instances') {
    kind = rawSnapshot === undefined ? 'instance' : 'snapshot';
    domain = url.searchParams.get('project') || event.project || meta.project || null;
  } else if (collection === 'networks') {
    kind = 'network';
    domain = name.startsWith('net-') ? name.slice(4) : null;
  } else if (collection === 'projects') {
    kind = 'project';
    domain = name;
  } else return null;
  if (domain === null || !isDomain(domain)) return null;
  return { domain, event: { time, action: meta.action, kind, name } };
}

/** The last events of each domain, newest last; bounded per domain, forgotten with the domain. */
export class DomainEventRing {
  private readonly rings = new Map<string, ViewEvent[]>();

  constructor(private readonly perDomain = 200) {}

  record(domain: string, event: ViewEvent): void {
    const ring = this.rings.get(domain) ?? [];
    ring.push(event);
    if (ring.length > this.perDomain) ring.splice(0, ring.length - this.perDomain);
    this.rings.set(domain, ring);
  }

  list(domain: string): readonly ViewEvent[] {
    return [...(this.rings.get(domain) ?? [])];
  }

  retain(domains: ReadonlySet<string>): void {
    for (const d of this.rings.keys()) if (!domains.has(d)) this.rings.delete(d);
  }
}
