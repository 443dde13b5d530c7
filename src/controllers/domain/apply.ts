import type { IncusClient } from '../../incus/client.js';
import type { IncusConfig, IncusDevices, Instance, InstancePut, NetworkPut, ProfilePut, ProjectPut } from '../../incus/types.js';
import type { Action } from '../../reconcile/action.js';
import type { ConfigObjectPayload } from './plan-config-object.js';
import type { ImageSource } from './desired-instance.js';
import type { InstancePayload } from './plan-instance.js';
import { AnklumeError, describeError } from '../../shared/errors.js';
import { isNotFound } from '../../incus/errors.js';
import type { InterfaceLock } from './interface-lock.js';
import type { ClusterNetworkPayload } from './cluster-plan.js';

/** How long a stop may take before it is forced, and a start before it fails, in seconds. */
const STATE_TIMEOUT_SECONDS = 30;

type DeletePayload = { readonly op: 'delete'; readonly kind: 'profile' | 'project' | 'network'; readonly project: string | null; readonly name: string };
type Payload = ConfigObjectPayload | InstancePayload | DeletePayload;

/** The members a network is first created on, pending (cluster-plan.ts); none on one Incus. */
function clusterMembers(payload: unknown): readonly string[] {
  return (payload as Partial<ClusterNetworkPayload>).members ?? [];
}

/** The REST collection of a kind: `/1.0/projects`, ... */
function collection(kind: string): string {
  return `/1.0/${kind === 'project' ? 'projects' : kind === 'network' ? 'networks' : kind === 'profile' ? 'profiles' : 'instances'}`;
}

function path(kind: string, name: string): string {
  return `${collection(kind)}/${encodeURIComponent(name)}`;
}

/** Apply set/unset to a config freshly read from Incus: everything else in it is kept as is. */
function merged(current: IncusConfig, set: IncusConfig, unset: readonly string[]): IncusConfig {
  const next: Record<string, string> = { ...current, ...set };
  for (const key of unset) Reflect.deleteProperty(next, key);
  return next;
}

/** The PUT body of an instance as Incus has it now, with these fields changed (a PUT replaces them all). */
export function instancePut(current: Instance, changes: Partial<InstancePut> = {}): InstancePut {
  const { architecture, ephemeral, stateful, profiles, description, config, devices } = current;
  return { architecture, ephemeral, stateful, profiles, description, config, devices, ...changes };
}

function mergedDevices(current: IncusDevices, set: IncusDevices, remove: readonly string[]): IncusDevices {
  const next: Record<string, Record<string, string>> = { ...current, ...set };
  for (const name of remove) Reflect.deleteProperty(next, name);
  return next;
}

/**
 * Carry out one planned action against Incus (the only I/O of the controllers).
 * Updates are read-modify-write with If-Match: the keys anklume manages change,
 * everything else (volatile keys, keys others set) is written back untouched.
 * Writes that change host interfaces go through `interfaces` (bridges alone,
 * instances together); an instance is created stopped, outside it, then
 * started within it, so that its storage work overlaps other domains' bridges.
 */
export async function applyAction(client: IncusClient, action: Action, signal: AbortSignal, interfaces: InterfaceLock): Promise<void> {
  if (action.kind === 'network') {
    // A cluster's create is not undone whole when one member fails (its members stay Errored until the next pass): it is not sent again.
    if (action.verb === 'create' && clusterMembers(action.payload).length === 0) return createBridge(client, (action.payload as Extract<ConfigObjectPayload, { op: 'create' }>).desired, signal, interfaces);
    return interfaces.bridgeWrite(() => applyIncusAction(client, action, signal));
  }
  if (action.kind === 'instance' && action.verb !== 'create') return interfaces.instanceWrite(() => applyIncusAction(client, action, signal));
  await applyIncusAction(client, action, signal);
  const payload = action.payload as Payload;
  if (action.kind === 'instance' && payload.op === 'create') {
    const { desired } = payload as Extract<InstancePayload, { op: 'create' }>;
    await interfaces.instanceWrite(() => client.put(`${path('instance', desired.name)}/state`, { action: 'start', timeout: STATE_TIMEOUT_SECONDS }, { project: desired.project, signal }));
  }
}

async function applyIncusAction(client: IncusClient, action: Action, signal: AbortSignal): Promise<void> {
  const payload = action.payload as Payload;
  const project = (p: string | null): { project?: string } => (p === null ? {} : { project: p });
  switch (payload.op) {
    case 'none':
      return;
    case 'create': {
      if (action.kind === 'instance') {
        const { desired, source } = payload as Extract<InstancePayload, { op: 'create' }>;
        // On a cluster, its placement (cluster-plan.ts): a member or @group.
        const target = (payload as { target?: string }).target;
        try {
          await client.create('/1.0/instances', { name: desired.name, type: desired.type, source, profiles: desired.profiles, config: desired.config, devices: desired.devices, description: desired.description, start: false }, { project: desired.project, signal, ...(target === undefined ? {} : { query: { target } }) });
        } catch (err) {
          throw await explainMissingImage(client, source, err, signal);
        }
        return;
      }
      const { desired } = payload as Extract<ConfigObjectPayload, { op: 'create' }>;
      const body = createBody(desired);
      // A network on a cluster: pending on every member first, then the cluster-wide create (cluster-plan.ts).
      for (const member of clusterMembers(payload)) await createPendingOnMember(client, body, member, signal);
      await client.create(collection(desired.kind), body, { ...project(desired.project), signal });
      return;
    }
    case 'update': {
      if (action.kind === 'instance') {
        const p = payload as Extract<InstancePayload, { op: 'update' }>;
        await client.updateWithRetry<Instance, InstancePut>(
          path('instance', p.desired.name),
          (current) =>
            instancePut(current, {
              profiles: p.profiles === null ? current.profiles : [...p.profiles],
              description: p.description ?? current.description,
              config: merged(current.config, p.set, p.unset),
              devices: mergedDevices(current.devices, p.setDevices, p.removeDevices),
            }),
          { project: p.desired.project, signal },
        );
        return;
      }
      const p = payload as Extract<ConfigObjectPayload, { op: 'update' }>;
      const { desired } = p;
      await client.updateWithRetry<ProfilePut | ProjectPut>(
        path(desired.kind, desired.name),
        (current) => ({
          description: p.description ?? current.description ?? '',
          config: merged(current.config, p.set, p.unset),
          ...(desired.kind === 'profile' ? { devices: mergedDevices((current as ProfilePut).devices, p.setDevices, p.removeDevices) } : {}),
        }),
        { ...project(desired.project), signal },
      );
      return;
    }
    case 'start':
      await client.put(`${path('instance', payload.name)}/state`, { action: payload.action, timeout: STATE_TIMEOUT_SECONDS }, { project: payload.project, signal });
      return;
    case 'delete': {
      if ('running' in payload) {
        const target = { project: payload.project, signal };
        if (payload.unprotect) await client.patch(path('instance', payload.name), { config: { 'security.protection.delete': 'false' } }, target);
        if (payload.running) await client.put(`${path('instance', payload.name)}/state`, { action: 'stop', force: true, timeout: STATE_TIMEOUT_SECONDS }, target);
        await client.delete(path('instance', payload.name), target);
        return;
      }
      await client.delete(path(payload.kind, payload.name), { ...project(payload.project), signal });
      return;
    }
  }
}

type DesiredConfigObject = Extract<ConfigObjectPayload, { op: 'create' }>['desired'];

/** The POST body of a project, profile or network. */
function createBody(desired: DesiredConfigObject): { name: string; description: string; config: IncusConfig; type?: string; devices?: IncusDevices } {
  return {
    name: desired.name,
    description: desired.description,
    config: { ...desired.createOnly, ...desired.config },
    ...(desired.type === undefined ? {} : { type: desired.type }),
    ...(desired.devices === undefined ? {} : { devices: desired.devices }),
  };
}

/**
 * The keys that make Incus run dnsmasq on a bridge, and the values that keep
 * it off. Incus 6.0 starts a bridge's dnsmasq and then waits 500 ms to see that
 * it did not exit, inside the create, which holds Incus's lock on network
 * creates: bridges sent together come up one after another, ~0.7 s each. An
 * update takes no such lock.
 */
const DNSMASQ_OFF: IncusConfig = { 'ipv4.dhcp': 'false', 'dns.mode': 'none' };

/**
 * Create a bridge on one Incus in two writes, within one turn of the bridges:
 * without DHCP and DNS (~0.16 s under Incus's create lock), then an update
 * that gives it the DHCP and DNS it declares, so the dnsmasq waits of bridges
 * created together overlap. Measured on Incus 6.0.4, 3 bridges: 2.07 s in
 * one write each, 1.5–1.7 s in two. The domain's profiles and instances
 * wait for both writes: Incus refuses a NIC on a bridge whose dnsmasq was
 * never set up ("Failed to add device eth0: open .../dnsmasq.hosts/...: no
 * such file or directory", measured). A pass that stops between the writes
 * leaves the bridge, ours, with DHCP off: drift that the next pass updates.
 */
async function createBridge(client: IncusClient, desired: DesiredConfigObject, signal: AbortSignal, interfaces: InterfaceLock): Promise<void> {
  const body = createBody(desired);
  const set: Record<string, string> = {};
  const unset: string[] = [];
  for (const key of Object.keys(DNSMASQ_OFF)) {
    const value = body.config[key];
    if (value === undefined) unset.push(key);
    else set[key] = value;
  }
  await interfaces.bridgeCreate([
    () => client.create('/1.0/networks', { ...body, config: { ...body.config, ...DNSMASQ_OFF } }, { signal }),
    () => client.updateWithRetry<NetworkPut, NetworkPut>(path('network', desired.name), (current) => ({ description: body.description, config: merged(current.config, set, unset) }), { signal }),
  ]);
}

/**
 * The per-member step of a cluster network: only the type and the name (no
 * key of ours may differ per member). A member that has it already (a pass
 * that failed after this step) is fine: the final create finishes it.
 */
async function createPendingOnMember(client: IncusClient, body: { name: string; type?: string; description: string }, member: string, signal: AbortSignal): Promise<void> {
  try {
    // The description goes here too: Incus keeps the one of the pending step (measured).
    await client.create('/1.0/networks', { name: body.name, type: body.type, description: body.description, config: {} }, { query: { target: member }, signal });
  } catch (err) {
    if (!/already defined on member/.test(describeError(err))) throw err;
  }
}

/**
 * Incus reports a missing local alias as "Image not provided for instance
 * creation"; say which image is missing instead (one read, on failure only).
 */
async function explainMissingImage(client: IncusClient, source: ImageSource, err: unknown, signal: AbortSignal): Promise<unknown> {
  if ('server' in source) return err;
  try {
    await client.get(`/1.0/images/aliases/${encodeURIComponent(source.alias)}`, { signal });
    return err;
  } catch (lookup) {
    if (!isNotFound(lookup)) return err;
    return new AnklumeError('IMAGE_NOT_FOUND', `image "${source.alias}" not found: no such local image alias (${describeError(err)})`, { cause: err });
  }
}
