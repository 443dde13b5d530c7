import type { IncusClient } from '../../incus/client.js';
import { isNotFound } from '../../incus/index.js';
import type { Instance, InstanceState } from '../../incus/types.js';

/** One instance of the domain, as the view shows it. */
export interface ViewInstance {
  readonly name: string;
  readonly type: string;
  readonly status: string;
  /** Declared in infra.yml (a machine), or started some other way. */
  readonly declared: boolean;
  readonly createdAt: string | null;
  readonly lastUsedAt: string | null;
  readonly addresses: readonly { readonly interface: string; readonly family: string; readonly address: string; readonly prefix: number }[];
  readonly processes: number | null;
  /** CPU time used since start, in nanoseconds (Incus's `cpu.usage`). */
  readonly cpuNs: number | null;
  readonly memory: { readonly usageBytes: number; readonly peakBytes: number | null; readonly limitBytes: number | null } | null;
  readonly disk: readonly { readonly device: string; readonly usageBytes: number; readonly totalBytes: number | null }[];
  readonly network: readonly { readonly interface: string; readonly bytesReceived: number; readonly bytesSent: number }[];
  /** Why the state could not be read (the instance went away meanwhile, Incus timed out); the rest is from the list. */
  readonly stateError?: string;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The view of one instance from its list entry and its state (pure). */
export function viewInstance(instance: Instance, state: InstanceState | null, declared: boolean, stateError?: string): ViewInstance {
  const network = Object.entries(state?.network ?? {}).filter(([name]) => name !== 'lo');
  const memoryUsage = num(state?.memory?.usage);
  return {
    name: instance.name,
    type: instance.type,
    status: state?.status ?? instance.status,
    declared,
    createdAt: instance.created_at ?? null,
    lastUsedAt: instance.last_used_at ?? null,
    addresses: network.flatMap(([iface, n]) =>
      (n?.addresses ?? [])
        .filter((a) => a.scope === 'global' && typeof a.address === 'string')
        .map((a) => ({ interface: iface, family: a.family ?? '', address: a.address ?? '', prefix: Number(a.netmask ?? 0) })),
    ),
    processes: num(state?.processes),
    cpuNs: num(state?.cpu?.usage),
    memory: memoryUsage === null ? null : { usageBytes: memoryUsage, peakBytes: num(state?.memory?.usage_peak), limitBytes: num(state?.memory?.total) || null },
    disk: Object.entries(state?.disk ?? {}).flatMap(([device, d]) => (num(d?.usage) === null ? [] : [{ device, usageBytes: num(d?.usage) ?? 0, totalBytes: num(d?.total) || null }])),
    network: network.map(([iface, n]) => ({ interface: iface, bytesReceived: num(n?.counters?.bytes_received) ?? 0, bytesSent: num(n?.counters?.bytes_sent) ?? 0 })),
    ...(stateError === undefined ? {} : { stateError }),
  };
}

export interface InstanceReaderOptions {
  readonly client: IncusClient;
  /** How long one domain's answer is reused: a domain's machines polling their view cost Incus one read per period. */
  readonly ttlMs: number;
  /** At most this many instances' state read (the rest listed without it), and this many at once. */
  readonly maxInstances: number;
  readonly concurrency: number;
  /** Each Incus request's own deadline. */
  readonly timeoutMs: number;
  readonly now?: () => number;
}

/**
 * A domain's instances with their state, from Incus (the project's list, then
 * `GET /1.0/instances/<name>/state` each, a few at a time), cached briefly per
 * domain; callers at the same time share one read.
 */
export class InstanceReader {
  private readonly cache = new Map<string, { at: number; value: Promise<ViewInstance[]> }>();
  private readonly now: () => number;

  constructor(private readonly options: InstanceReaderOptions) {
    this.now = options.now ?? Date.now;
  }

  read(project: string, declared: ReadonlySet<string>): Promise<ViewInstance[]> {
    const hit = this.cache.get(project);
    if (hit !== undefined && this.now() - hit.at < this.options.ttlMs) return hit.value;
    const value = this.load(project, declared);
    this.cache.set(project, { at: this.now(), value });
    // A failure is not cached: the next request asks again.
    value.catch(() => this.cache.delete(project));
    return value;
  }

  /** After a write (a snapshot), the next read is fresh. */
  invalidate(project: string): void {
    this.cache.delete(project);
  }

  retain(projects: ReadonlySet<string>): void {
    for (const p of this.cache.keys()) if (!projects.has(p)) this.cache.delete(p);
  }

  private async load(project: string, declared: ReadonlySet<string>): Promise<ViewInstance[]> {
    const { client, timeoutMs, maxInstances, concurrency } = this.options;
    let instances: Instance[];
    try {
      instances = await client.listInstances({ project, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      // The project is not there (yet): the domain has no instances.
      if (isNotFound(err)) return [];
      throw err;
    }
    instances.sort((a, b) => a.name.localeCompare(b.name));
    const out: ViewInstance[] = new Array<ViewInstance>(instances.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < instances.length; i = next++) {
        const instance = instances[i] as Instance;
        if (i >= maxInstances) {
          out[i] = viewInstance(instance, null, declared.has(instance.name), `state not read: more than ${maxInstances} instances`);
          continue;
        }
        try {
          const state = await client.get<InstanceState>(`/1.0/instances/${encodeURIComponent(instance.name)}/state`, { project, signal: AbortSignal.timeout(timeoutMs) });
          out[i] = viewInstance(instance, state, declared.has(instance.name));
        } catch (err) {
          out[i] = viewInstance(instance, null, declared.has(instance.name), err instanceof Error ? err.message : String(err));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, instances.length) }, worker));
    return out;
  }
}
