import { networkInterfaces } from 'node:os';
import type { StatusDocument } from '../../controllers/status.js';
import type { IncusClient } from '../../incus/client.js';
import { isConflict, isNotFound } from '../../incus/errors.js';
import type { IncusEvent } from '../../incus/types.js';
import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import type { Logger } from '../../shared/logger.js';
import { presentBindings, viewBindings, type HostInterfaces, type ViewBinding } from './addresses.js';
import { DomainEventRing, viewEventOf } from './events.js';
import { InstanceReader } from './instances.js';
import { domainInventory } from './inventory.js';
import { ViewListeners } from './listeners.js';
import { SnapshotRateLimit } from './rate-limit.js';
import { VIEW_ENDPOINTS, ViewError, viewHandler, type ViewBackend, type ViewCaller } from './server.js';

export interface DomainViewOptions {
  readonly client: IncusClient;
  readonly model: () => DesiredInfra;
  /** The daemon's status document: services' health and the domain's conditions come from it. */
  readonly status: () => StatusDocument;
  readonly logger: Logger;
  readonly now?: () => number;
  /** The host's interfaces (which bridges exist and hold their gateway); os.networkInterfaces by default. */
  readonly interfaces?: () => HostInterfaces;
  /** Each Incus request's own deadline, in ms. */
  readonly incusTimeoutMs?: number;
}

/** Incus instance names: letters, digits and inner hyphens, at most 63 characters. */
const INSTANCE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** Snapshot names the view lets a domain choose: no `/`, nothing Incus would read as a path. */
const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** `view-20261205-043512`: sorts by time, says where it came from. */
function defaultSnapshotName(now: number): string {
  return `view-${new Date(now).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
}

/** The body of a snapshot request: empty, or `{"name": "<snapshot name>"}`. */
export function snapshotRequest(body: unknown): { readonly name: string | null } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ViewError(400, 'expected a JSON object: {} or {"name": "<snapshot name>"}');
  const extra = Object.keys(body).filter((k) => k !== 'name');
  if (extra.length > 0) throw new ViewError(400, `unknown field${extra.length === 1 ? '' : 's'}: ${extra.join(', ')} (only "name" is accepted)`);
  const { name } = body as { name?: unknown };
  if (name === undefined) return { name: null };
  if (typeof name !== 'string' || !SNAPSHOT_NAME.test(name)) throw new ViewError(400, 'name: letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63 characters');
  return { name };
}

/**
 * The domain view, anklumed's side: what each domain may read about itself
 * (and, when its settings allow, the snapshot it may ask for), served by one
 * listener per gateway (listeners.ts).
 */
export class DomainView implements ViewBackend {
  private readonly ring = new DomainEventRing();
  private readonly rateLimit: SnapshotRateLimit;
  private readonly reader: InstanceReader;
  private readonly listeners: ViewListeners;
  private readonly now: () => number;

  constructor(private readonly options: DomainViewOptions) {
    this.now = options.now ?? Date.now;
    this.rateLimit = new SnapshotRateLimit(this.now);
    this.reader = new InstanceReader({ client: options.client, ttlMs: 5_000, maxInstances: 100, concurrency: 4, timeoutMs: options.incusTimeoutMs ?? 10_000, now: this.now });
    this.listeners = new ViewListeners({ handler: viewHandler(this, options.logger), logger: options.logger });
  }

  /** Listen on the gateways of the bridges that exist now, stop where they went; forget removed domains. */
  async sync(): Promise<void> {
    const model = this.options.model();
    const names = new Set(model.domains.map((d) => d.name));
    this.ring.retain(names);
    this.rateLimit.retain(names);
    this.reader.retain(names);
    const interfaces = (this.options.interfaces ?? networkInterfaces)();
    await this.listeners.sync(presentBindings(viewBindings(model), interfaces), model.domainView.port);
  }

  /** The domains whose view listens now. */
  listening(): string[] {
    return this.listeners.domains();
  }

  close(): Promise<void> {
    return this.listeners.close();
  }

  /** Every Incus event goes through here; the domain's own ones are kept (the last 200 each). */
  recordEvent(event: IncusEvent): void {
    const names = new Set(this.options.model().domains.map((d) => d.name));
    const seen = viewEventOf(event, (d) => names.has(d));
    if (seen !== null) this.ring.record(seen.domain, seen.event);
  }

  bindings(): readonly ViewBinding[] {
    return viewBindings(this.options.model());
  }

  private domainOf(name: string): DesiredDomain {
    const d = this.options.model().domains.find((x) => x.name === name && x.enabled);
    // The connection was matched against the same model a moment ago; a domain removed since is gone.
    if (d === undefined) throw new ViewError(404, `domain ${name} is no longer declared`);
    return d;
  }

  private statusOf(name: string): StatusDocument['domains'][number] | undefined {
    return this.options.status().domains.find((d) => d.name === name);
  }

  domain(name: string): unknown {
    const d = this.domainOf(name);
    const ready = this.statusOf(name)?.conditions.find((c) => c.type === 'Ready')?.status ?? false;
    return {
      name: d.name,
      description: d.description,
      trustLevel: d.trustLevel,
      egress: d.egress,
      aiProvider: d.aiProvider,
      aiSanitize: d.aiSanitize,
      bridge: d.bridge,
      subnet: d.network.subnet,
      gateway: d.network.gateway,
      ready,
      snapshots: { enabled: d.view.snapshots, intervalSeconds: d.view.snapshotIntervalMs / 1000 },
      endpoints: VIEW_ENDPOINTS,
    };
  }

  instances(name: string): Promise<unknown> {
    const d = this.domainOf(name);
    return this.reader.read(d.project, new Set(d.machines.map((m) => m.name)));
  }

  services(name: string): unknown {
    this.domainOf(name);
    return (this.statusOf(name)?.objects ?? [])
      .filter((o) => o.kind === 'service')
      .map((o) => {
        const ready = o.conditions.find((c) => c.type === 'Ready');
        return { name: o.name, ready: ready?.status ?? false, reason: ready?.reason ?? 'Unknown', message: ready?.message ?? '', conditions: o.conditions };
      });
  }

  inventory(name: string): unknown {
    return domainInventory(this.options.model(), this.domainOf(name));
  }

  events(name: string): unknown {
    this.domainOf(name);
    return this.ring.list(name);
  }

  conditions(name: string): unknown {
    this.domainOf(name);
    const status = this.options.status();
    const d = status.domains.find((x) => x.name === name);
    return {
      domain: d?.conditions ?? [],
      lastReconcile: d?.lastReconcile ?? null,
      retries: d?.retries ?? 0,
      notes: d?.notes ?? [],
      objects: (d?.objects ?? []).map((o) => ({ kind: o.kind, name: o.name, ...(o.ip === undefined ? {} : { ip: o.ip }), ...(o.state === undefined ? {} : { state: o.state }), conditions: o.conditions })),
      // Isolation is the whole host's table: the domain learns whether it holds, not its rules.
      firewall: { inSync: status.firewall.managed && status.firewall.state === 'InSync', state: status.firewall.state },
    };
  }

  /**
   * A snapshot of one of the domain's own instances, when its settings allow
   * it: the instance is looked up in the domain's own project only (another
   * domain's instance is not there: 404, whatever its name), then the
   * domain's rate limit is taken, then Incus is asked. Every answer is
   * audited in the daemon's log.
   */
  async snapshot(caller: ViewCaller, instance: string, body: unknown): Promise<unknown> {
    const { logger, client } = this.options;
    const audit = { domain: caller.domain, client: caller.address, instance };
    try {
      const d = this.domainOf(caller.domain);
      if (!d.view.snapshots) throw new ViewError(403, `snapshots are off for domain ${d.name} (domains.${d.name}.domain_view.snapshots in infra.yml)`);
      if (!INSTANCE_NAME.test(instance)) throw new ViewError(400, `"${instance}" is not an instance name`);
      const request = snapshotRequest(body);
      const path = `/1.0/instances/${instance}`;
      try {
        await client.get(path, { project: d.project, signal: AbortSignal.timeout(this.options.incusTimeoutMs ?? 10_000) });
      } catch (err) {
        if (isNotFound(err)) throw new ViewError(404, `no instance named ${instance} in domain ${d.name}`);
        throw err;
      }
      const slot = this.rateLimit.take(d.name, d.view.snapshotIntervalMs);
      if (!slot.ok) {
        const seconds = Math.ceil(slot.retryAfterMs / 1000);
        throw new ViewError(429, `domain ${d.name} may take one snapshot every ${d.view.snapshotIntervalMs / 1000} s; next in ${seconds} s`, { 'retry-after': String(seconds) });
      }
      const name = request.name ?? defaultSnapshotName(slot.at);
      try {
        await client.post(`${path}/snapshots`, { name, stateful: false }, { project: d.project });
      } catch (err) {
        this.rateLimit.release(d.name, slot.at);
        if (isConflict(err)) throw new ViewError(409, `instance ${instance} already has a snapshot named ${name}`);
        throw err;
      }
      this.reader.invalidate(d.project);
      logger.info({ ...audit, snapshot: name }, 'domain view: snapshot created');
      return { instance, name, createdAt: new Date(this.now()).toISOString(), nextAllowedAt: new Date(slot.at + d.view.snapshotIntervalMs).toISOString() };
    } catch (err) {
      logger.warn({ ...audit, refused: err instanceof ViewError ? err.status : 'error', reason: err instanceof Error ? err.message : String(err) }, 'domain view: snapshot refused');
      throw err;
    }
  }
}
