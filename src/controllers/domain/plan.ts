import type { Action, Note, Plan } from '../../reconcile/action.js';
import type { DesiredInfra } from '../../schemas/model.js';
import { objectId } from '../object-id.js';
import { planConfigObject, type ActualConfigObject } from './plan-config-object.js';
import { desiredInstance } from './desired-instance.js';
import { planInstance } from './plan-instance.js';
import { desiredBridge } from './desired-bridge.js';
import type { Observed, ObservedInstance } from '../observed.js';
import { scoped } from '../observed.js';
import { MARK, ownership } from '../../reconcile/ownership.js';
import { desiredProfiles } from './desired-profiles.js';
import { desiredProject } from './desired-project.js';

export interface PlanOptions {
  /** Storage pool of the root disk in every domain's default profile. */
  readonly storagePool: string;
  /** Delete managed objects that left infra.yml. */
  readonly prune: boolean;
  /** Allow deleting protected instances, and passes that delete more than half of the managed instances. */
  readonly force: boolean;
  /**
   * Plan only the objects of these groups (a domain's name; a leftover's
   * recorded domain). Every domain still counts for what the file wants, so
   * nothing of another domain is ever taken for a leftover. Default: all.
   */
  readonly only?: (group: string) => boolean;
  /** Bridges use their domain's network ACL (a cluster, a remote Incus: docs/cluster.md). */
  readonly bridgeAcls?: boolean;
}

/** A project created by anklume starts with an empty default profile (features.profiles=true). */
const FRESH_DEFAULT_PROFILE: ActualConfigObject = { description: 'Default Incus profile', config: {}, devices: {} };

/**
 * The whole plan (pure): per enabled domain, bridge → project → profiles →
 * instances, each action after what it needs (and nothing else: one domain's
 * instances do not wait for another domain's bridge; what must not overlap on
 * the host is interface-lock.ts's to keep); then, with --prune, deletions of
 * this infra's leftovers in the reverse order. Disabled domains are left alone.
 */
export function planInfra(model: DesiredInfra, observed: Observed, options: PlanOptions): Plan {
  const infra = model.projectName;
  const actions: Action[] = [];
  const notes: Note[] = [];
  const wanted = new Set<string>(); // ids of every object the file wants
  const kept = new Set<string>(); // domains whose objects must be left alone (disabled)

  for (const domain of model.domains) {
    if (!domain.enabled) {
      kept.add(domain.name);
      continue;
    }
    if (options.only !== undefined && !options.only(domain.name)) {
      for (const id of objectIdsOf(domain)) wanted.add(id);
      continue;
    }
    const inPlan = (id: string): string[] => (actions.some((a) => a.id === id) ? [id] : []);
    notes.push(...unsafeNotes(domain));

    const bridge = desiredBridge(domain, model, { acls: options.bridgeAcls === true });
    wanted.add(objectId('network', null, bridge.name));
    push(actions, guardRenumbering(planConfigObject(bridge, observed.networks.get(bridge.name), { infra, after: [] }), options.force));
    const bridgeId = inPlan(objectId('network', null, bridge.name));

    const project = desiredProject(domain, model);
    const projectId = objectId('project', null, project.name);
    wanted.add(projectId);
    const actualProject = observed.projects.get(project.name);
    // A project names its bridge (restricted.networks.access), but Incus does not look the name up (measured): it goes alongside the bridge.
    push(actions, planConfigObject(project, actualProject, { infra, after: [] }));
    const projectOwner = actualProject === undefined ? 'ours' : ownership(actualProject.config, infra);

    const profileIds = new Map<string, string[]>();
    for (const profile of desiredProfiles(domain, model, options.storagePool)) {
      const id = objectId('profile', profile.project, profile.name);
      wanted.add(id);
      const actual = observed.profiles.get(scoped(domain.project, profile.name)) ?? (profile.name === 'default' && actualProject === undefined ? FRESH_DEFAULT_PROFILE : undefined);
      // The default profile comes with the project: it is ours when the project is.
      const owner = profile.name === 'default' ? projectOwner : undefined;
      push(actions, planConfigObject(profile, actual, { infra, after: [...inPlan(projectId), ...bridgeId], ...(owner === undefined ? {} : { owner }) }));
      profileIds.set(profile.name, inPlan(id));
    }

    for (const machine of domain.machines) {
      const desired = desiredInstance(machine, domain, model);
      wanted.add(objectId('instance', desired.project, desired.name));
      const after = [...inPlan(projectId), ...bridgeId, ...(profileIds.get('default') ?? []), ...machine.profiles.flatMap((p) => profileIds.get(p) ?? [])];
      actions.push(...planInstance(desired, observed.instances.get(scoped(desired.project, desired.name)), { infra, after: [...new Set(after)] }));
    }
  }

  const leftovers = findLeftovers(observed, infra, wanted, kept);
  const mine = (l: { readonly group: string }): boolean => options.only === undefined || options.only(l.group);
  // The deletion guard counts every leftover, whichever group is planned now.
  if (options.prune) actions.push(...planDeletions(leftovers, observed, infra, options).filter(mine));
  else for (const l of leftovers.filter(mine)) notes.push({ group: l.group, kind: l.kind, name: l.name, message: 'no longer in infra.yml; kept (apply --prune deletes it)' });
  return { actions, notes };
}

/** What infra.yml lets cross the domain's boundary (`allow_unsafe`): said on every plan, never silently. */
function unsafeNotes(domain: DesiredInfra['domains'][number]): Note[] {
  const note = (kind: string, name: string, allowed: readonly string[]): Note => ({ group: domain.name, kind, name, message: `WARNING allow_unsafe: ${allowed.join(', ')} — may cross the boundary of a ${domain.trustLevel} domain` });
  return [
    ...domain.profiles.filter((p) => p.allowUnsafe.length > 0).map((p) => note('profile', p.name, p.allowUnsafe)),
    ...domain.machines.filter((m) => m.allowUnsafe.length > 0).map((m) => note('instance', m.name, m.allowUnsafe)),
  ];
}

/** The ids of the objects an enabled domain wants (the same ids its plan and status use). */
function objectIdsOf(domain: DesiredInfra['domains'][number]): string[] {
  return [
    objectId('network', null, domain.bridge),
    objectId('project', null, domain.project),
    ...['default', ...domain.profiles.map((p) => p.name)].map((p) => objectId('profile', domain.project, p)),
    ...domain.machines.map((m) => objectId('instance', domain.project, m.name)),
  ];
}

/**
 * A domain whose subnet changed in infra.yml (a pinned subnet_id edited, or a
 * new domain shifting the name order) would have its bridge and every address
 * in it renumbered: never done silently. Hand-made drift of the address (the
 * subnet mark unchanged) is still repaired.
 */
function guardRenumbering(action: Action | null, force: boolean): Action | null {
  if (action === null || action.verb !== 'update' || action.blocked !== undefined || force) return action;
  const subnet = action.changes.find((c) => c.key === MARK.subnet);
  if (subnet?.from === undefined) return action;
  return {
    ...action,
    blocked: `bridge ${action.name} would be renumbered from ${subnet.from} to ${subnet.to ?? '?'}, with every address in it; pin the domain's subnet_id to keep ${subnet.from}, or run apply --force to renumber`,
  };
}

function push(actions: Action[], action: Action | null): void {
  if (action !== null) actions.push(action);
}

interface Leftover {
  readonly id: string;
  readonly group: string;
  readonly kind: 'instance' | 'profile' | 'project' | 'network';
  readonly project: string | null;
  readonly name: string;
  readonly instance?: ObservedInstance;
}

/** This infra's objects that the file no longer wants (never anything unmarked or another infra's). */
function findLeftovers(observed: Observed, infra: string, wanted: ReadonlySet<string>, kept: ReadonlySet<string>): Leftover[] {
  const leftovers: Leftover[] = [];
  const consider = (kind: Leftover['kind'], project: string | null, name: string, config: Readonly<Record<string, string>>, instance?: ObservedInstance): void => {
    if (ownership(config, infra) !== 'ours') return;
    const group = config[MARK.domain] ?? '';
    if (kept.has(group)) return;
    const id = objectId(kind, project, name);
    if (wanted.has(id)) return;
    leftovers.push({ id, group, kind, project, name, ...(instance === undefined ? {} : { instance }) });
  };
  for (const i of observed.instances.values()) consider('instance', i.project, i.name, i.config, i);
  for (const p of observed.profiles.values()) if (p.name !== 'default') consider('profile', p.project, p.name, p.config);
  for (const p of observed.projects.values()) consider('project', null, p.name, p.config);
  for (const n of observed.networks.values()) consider('network', null, n.name, n.config);
  return leftovers;
}

function planDeletions(leftovers: readonly Leftover[], observed: Observed, infra: string, options: PlanOptions): Action[] {
  const managedInstances = [...observed.instances.values()].filter((i) => ownership(i.config, infra) === 'ours').length;
  const doomed = leftovers.filter((l) => l.kind === 'instance').length;
  // A guard against a truncated file or a wrong project_name wiping the host.
  const guard = !options.force && doomed * 2 > managedInstances
    ? `this pass would delete ${doomed} of ${managedInstances} managed instances (more than half); run with --force if that is really meant`
    : undefined;

  const idsOf = (pred: (l: Leftover) => boolean): string[] => leftovers.filter(pred).map((l) => l.id);
  return leftovers.map((l): Action => {
    const base = { id: `${l.id}#delete`, group: l.group, kind: l.kind, name: l.name, verb: 'delete' as const, reason: 'left infra.yml', changes: [] };
    if (l.kind === 'instance' && l.instance !== undefined) {
      const protectedInstance = l.instance.config['security.protection.delete'] === 'true';
      const blocked = guard ?? (protectedInstance && !options.force ? `instance ${l.name} is protected (security.protection.delete); --force deletes it` : undefined);
      return {
        ...base,
        after: [],
        ...(blocked === undefined ? {} : { blocked }),
        payload: { op: 'delete', project: l.instance.project, name: l.name, running: l.instance.status !== 'Stopped', unprotect: protectedInstance },
      };
    }
    const after =
      l.kind === 'profile'
        ? idsOf((o) => o.kind === 'instance' && o.project === l.project)
        : l.kind === 'project'
          ? idsOf((o) => (o.kind === 'instance' || o.kind === 'profile') && o.project === l.name)
          : // A domain's bridge is used only by its own instances (the project is confined to it).
            idsOf((o) => (o.kind === 'instance' || o.kind === 'project') && o.group === l.group);
    return { ...base, after: after.map((id) => `${id}#delete`), payload: { op: 'delete', kind: l.kind, project: l.project, name: l.name } };
  });
}

/**
 * Bridges start first among the actions ready at once: each one unblocks a
 * whole domain, and Incus sets them up one at a time. Without it, with 10
 * domains of 3 instances at --parallel 8, the last two bridges waited behind
 * the first domains' projects, profiles and instances and came up at 35 and
 * 41 s of 48 s.
 */
export function bridgesFirst(action: Action): number {
  return action.kind === 'network' ? 1 : 0;
}

/** Does this action create or start an instance (what must never happen without the firewall)? */
export function runsInstance(action: Action): boolean {
  return action.kind === 'instance' && (action.verb === 'create' || action.verb === 'start');
}

/** The plan with every instance create and start blocked, for this reason (fail closed: no firewall, no instance). */
export function withoutInstanceRuns(plan: Plan, why: string): Plan {
  return { ...plan, actions: plan.actions.map((a) => (runsInstance(a) && a.blocked === undefined ? { ...a, blocked: `the firewall is not in place (${why}): instances are not created or started without it` } : a)) };
}
