import type { ClusterView } from '../../incus/cluster.js';
import { unavailableMembers } from '../../incus/cluster.js';
import type { Action, Note, Plan } from '../../reconcile/action.js';
import type { DesiredInfra, Placement } from '../../schemas/model.js';
import { AnklumeError } from '../../shared/errors.js';
import { objectId } from '../object-id.js';
import { scoped, type Observed } from '../observed.js';
import type { ConfigObjectPayload } from './plan-config-object.js';
import { desiredBridge } from './desired-bridge.js';
import type { InstancePayload } from './plan-instance.js';

/**
 * What a cluster changes in a domain plan (pure), applied on top of
 * {@link planInfra}'s plan (docs/cluster.md):
 *
 * - a bridge is created on every member first (`?target=<member>`, Pending),
 *   then cluster-wide; one left `Pending` or `Errored` by a failed pass is
 *   finished on the next;
 * - network writes wait while a member is not online (Incus refuses them, and
 *   a half-applied network is worse than a late one): they are blocked with
 *   the members they wait for, and what needs them waits too;
 * - instances are created with `?target=` from their placement; one placed on
 *   a member that is down waits for it; a placement on a single Incus blocks;
 * - an instance running elsewhere than its placement says is a note: moving it
 *   is a replacement, never done silently.
 */

/** The target of an instance create: `m2`, `@gpu`. */
export function placementTarget(placement: Placement): string {
  return placement.member ?? `@${placement.group ?? ''}`;
}

export interface ClusterNetworkPayload {
  /** Members to create the pending network on first (all of them: a member that has it already says so, and that is fine). */
  readonly members: readonly string[];
}

export function placeOnCluster(plan: Plan, model: DesiredInfra, observed: Observed, cluster: ClusterView, options: { readonly bridgeAcls?: boolean; readonly only?: (group: string) => boolean } = {}): Plan {
  const planned = (domain: string): boolean => options.only === undefined || options.only(domain);
  const down = unavailableMembers(cluster);
  const names = new Set(cluster.members.map((m) => m.name));
  const groups = new Set(cluster.members.flatMap((m) => m.groups));
  const waits = (members: readonly string[], what: string): string => `waits for member${members.length === 1 ? '' : 's'} ${members.join(', ')} (${members.map((m) => cluster.members.find((x) => x.name === m)?.status ?? 'unknown').join(', ')}): ${what}; retried on the next pass`;
  const notes: Note[] = [...plan.notes];
  let actions: Action[] = [...plan.actions];

  if (cluster.clustered) {
    // Networks left Pending or Errored by an earlier pass: the final create again.
    for (const domain of model.domains.filter((d) => d.enabled && planned(d.name))) {
      const actual = observed.networks.get(domain.bridge);
      const status = actual?.status;
      if (actual === undefined || status === undefined || status === 'Created') continue;
      const id = objectId('network', null, domain.bridge);
      const existing = actions.findIndex((a) => a.id === id);
      const finish: Action = {
        id,
        group: domain.name,
        kind: 'network',
        name: domain.bridge,
        verb: 'create',
        reason: `${status.toLowerCase()} on the cluster: finishing its create`,
        changes: [],
        after: [],
        payload: { op: 'create', desired: desiredBridge(domain, model, { acls: options.bridgeAcls === true }), members: cluster.members.map((m) => m.name) },
      };
      if (existing >= 0) actions[existing] = { ...finish, notBefore: actions[existing]?.notBefore ?? [] };
      else actions.push(finish);
    }
  }

  actions = actions.map((a): Action => {
    if (a.blocked !== undefined) return a;
    if (a.kind === 'network' && cluster.clustered && (a.verb === 'create' || a.verb === 'update' || a.verb === 'delete')) {
      if (down.length > 0) return { ...a, blocked: waits(down, 'Incus refuses network writes while a member is down') };
      const payload = a.payload as ConfigObjectPayload;
      if (a.verb === 'create' && payload.op === 'create') return { ...a, payload: { ...payload, members: cluster.members.map((m) => m.name) } };
      return a;
    }
    if (a.kind === 'instance' && a.verb === 'create') {
      const payload = a.payload as InstancePayload;
      if (payload.op !== 'create') return a;
      const machine = model.domains.flatMap((d) => d.machines).find((m) => m.name === a.name);
      const placement = machine?.placement ?? null;
      if (placement === null) return a;
      if (!cluster.clustered) return { ...a, blocked: `placement ${placementTarget(placement)}: Incus is not a cluster (placement needs one)` };
      if (placement.member !== undefined && !names.has(placement.member)) return { ...a, blocked: `placement: no cluster member "${placement.member}" (members: ${[...names].join(', ')})` };
      if (placement.group !== undefined && !groups.has(placement.group)) return { ...a, blocked: `placement: no member is in cluster group "${placement.group}"` };
      if (placement.member !== undefined && down.includes(placement.member)) return { ...a, blocked: waits([placement.member], 'its instance is created there') };
      return { ...a, payload: { ...payload, target: placementTarget(placement) } };
    }
    return a;
  });

  // What needs a blocked action does not run either: say which member it waits for.
  const blocked = new Map(actions.filter((a) => a.blocked !== undefined).map((a) => [a.id, a]));
  actions = actions.map((a) => {
    if (a.blocked !== undefined) return a;
    const waitingOn = a.after.map((id) => blocked.get(id)).find((b) => b?.blocked?.startsWith('waits for member') === true);
    return waitingOn === undefined ? a : { ...a, blocked: `${waitingOn.blocked ?? ''} (after ${waitingOn.id})` };
  });

  for (const domain of model.domains.filter((d) => d.enabled && planned(d.name))) {
    for (const machine of domain.machines) {
      const member = machine.placement?.member;
      const actual = observed.instances.get(scoped(domain.project, machine.name));
      if (member === undefined || actual?.location === undefined || actual.location === '' || actual.location === 'none' || actual.location === member) continue;
      notes.push({ group: domain.name, kind: 'instance', name: machine.name, message: `misplaced: runs on member ${actual.location}, placement says ${member}; moving it is a replacement, not done by anklume (delete it to recreate it there)` });
    }
  }
  // An address pinned twice is not a note here: plan, apply and the daemon refuse it (addressRefusal).
  return { actions, notes };
}

/** A machine of infra.yml whose pinned address another instance on its bridge pins too. */
export interface AddressClash {
  readonly domain: string;
  readonly machine: string;
  readonly ip: string;
  /** `project/name` of the other instance, and the member it is on (a cluster). */
  readonly other: string;
  readonly member?: string;
}

/**
 * Incus accepts one pinned address on two members (each member's bridge is
 * its own, with its own dnsmasq): an instance anklume does not manage as
 * this machine, holding the machine's address on the same bridge name, on
 * any member (pure). Two machines of infra.yml with one address are
 * validate's to refuse (the `ip-unique` rule).
 */
export function addressClashes(model: DesiredInfra, observed: Observed): AddressClash[] {
  const clashes: AddressClash[] = [];
  for (const domain of model.domains.filter((d) => d.enabled)) {
    for (const machine of domain.machines) {
      for (const other of observed.instances.values()) {
        if (other.project === domain.project && other.name === machine.name) continue;
        const clash = Object.values(other.devices).some((d) => d.type === 'nic' && (d.network === domain.bridge || d.parent === domain.bridge) && d['ipv4.address'] === machine.ip);
        if (clash) clashes.push({ domain: domain.name, machine: machine.name, ip: machine.ip, other: `${other.project}/${other.name}`, ...(other.location === undefined || other.location === '' || other.location === 'none' ? {} : { member: other.location }) });
      }
    }
  }
  return clashes;
}

function clashMessage(c: AddressClash): string {
  return `address ${c.ip} is also pinned by instance ${c.other}${c.member === undefined ? '' : ` on member ${c.member}`} on bridge net-${c.domain}: Incus does not refuse it (each member's bridge is its own), one of them would not get it`;
}

/**
 * Refuse a pass where a machine would get an address another instance holds
 * (fail closed: two instances answering for one address break isolation by
 * address, which the firewall rules are written in). Nothing is written.
 */
export function refuseAddressClashes(clashes: readonly AddressClash[]): void {
  const refusal = addressRefusal(clashes);
  if (refusal !== undefined) throw refusal;
}

/** The refusal's error, undefined when no address is pinned twice. */
export function addressRefusal(clashes: readonly AddressClash[]): AnklumeError | undefined {
  if (clashes.length === 0) return undefined;
  return new AnklumeError('IP_CONFLICT', `${clashes.length === 1 ? 'an address is' : 'addresses are'} pinned twice; nothing was changed:\n${clashes.map((c) => `  ${c.domain}/${c.machine}: ${clashMessage(c)}`).join('\n')}\nchange the machine's ip in infra.yml, or the other instance's address`);
}

/**
 * Where bridges name their domain's network ACL, a bridge written before the
 * ACLs are in place would name a missing or stale one (Incus refuses the
 * first, and the second is isolation not as declared): its create or update
 * waits, with the reason (deletions go on).
 */
export function withoutBridgeWrites(plan: Plan, why: string): Plan {
  return { ...plan, actions: plan.actions.map((a) => (a.kind === 'network' && (a.verb === 'create' || a.verb === 'update') && a.blocked === undefined ? { ...a, blocked: `the network ACLs are not in place (${why}): the bridge names its domain's ACL` } : a)) };
}
