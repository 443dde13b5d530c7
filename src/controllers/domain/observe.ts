import type { IncusClient } from '../../incus/client.js';
import { AnklumeError } from '../../shared/errors.js';
import { scoped, type Observed } from '../observed.js';

/**
 * Read everything anklume compares in four bulk requests (recursion=1,
 * all-projects), never one request per object (incus-api.md §0.5).
 */
export async function observe(client: IncusClient, options: { signal?: AbortSignal } = {}): Promise<Observed> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const [projects, networks, profiles, instances] = await Promise.all([
    client.listProjects(signal),
    // Bridges live in the default project only (incus-api.md §0.1).
    client.listNetworks({ project: 'default', ...signal }),
    client.listProfiles(signal),
    client.listInstances(signal),
  ]);
  return {
    projects: new Map(projects.map((p) => [p.name, { name: p.name, description: p.description, config: p.config }])),
    networks: new Map(networks.filter((n) => n.managed).map((n) => [n.name, { name: n.name, description: n.description, type: n.type, managed: n.managed, config: n.config, ...(n.status === undefined ? {} : { status: n.status }) }])),
    profiles: new Map(profiles.map((p) => [scoped(p.project ?? 'default', p.name), { name: p.name, project: p.project ?? 'default', description: p.description, config: p.config, devices: p.devices }])),
    instances: new Map(
      instances.map((i) => [
        scoped(i.project, i.name),
        { name: i.name, project: i.project, type: i.type, status: i.status, description: i.description, profiles: i.profiles, config: i.config, devices: i.devices, ...(i.location === undefined ? {} : { location: i.location }) },
      ]),
    ),
  };
}

/** Incus has no storage pool to put root disks on. */
export class IncusNotInitialisedError extends AnklumeError {
  constructor() {
    super('INCUS_NOT_INITIALISED', 'Incus is not initialised: the default profile has no root disk on a storage pool. Run `incus admin init` (or pass --storage-pool).');
  }
}

/** The pool of the root disk of the default project's default profile: where Incus itself puts instances. */
export function detectStoragePool(observed: Observed): string {
  const pool = observed.profiles.get(scoped('default', 'default'))?.devices.root?.pool;
  if (pool === undefined || pool === '') throw new IncusNotInitialisedError();
  return pool;
}
