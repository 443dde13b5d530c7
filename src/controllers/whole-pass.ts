import type { IncusClient } from '../incus/client.js';
import type { Plan } from '../reconcile/action.js';
import { executePlan, type Outcome } from '../reconcile/execute.js';
import type { Action } from '../reconcile/action.js';
import type { DesiredInfra } from '../schemas/model.js';
import { holderFromObserved } from './ai-access/holder.js';
import { applyToTarget, observeTarget, type FirewallTarget } from './firewall/check.js';
import { applyAction } from './domain/apply.js';
import { InterfaceLock } from './domain/interface-lock.js';
import { applyDeployment } from './service/apply.js';
import type { ServiceDeployment } from './service/deployment.js';
import { probeDeployed } from './service/health.js';
import { planDeployment, type DeployPayload } from './service/plan.js';
import { applyCron, listCronJobs } from './service/cron-apply.js';
import { planCron, type CronPayload } from './service/cron-plan.js';
import { serviceObjectId } from './object-id.js';
import { FIREWALL_ACTION_ID, desiredFirewall, planFirewall, type FirewallPayload } from './firewall/table.js';
import { detectStoragePool, observe } from './domain/observe.js';
import { bridgesFirst, planInfra, runsInstance, withoutInstanceRuns } from './domain/plan.js';
import { readCluster } from '../incus/cluster.js';
import { addressClashes, placeOnCluster, refuseAddressClashes } from './domain/cluster-plan.js';
import { ACL_KIND, applyAcl, desiredAcls, observeAcls, planAclLeftovers, planAcls, usesAcls, type AclDeletePayload, type AclPayload } from './firewall/acl.js';

/*
 * Every controller once, in one process, without a daemon: what `anklumectl
 * plan` shows and a direct `anklumectl apply` (under the writer lock) does.
 * The daemon runs the same parts through its reconcilers instead.
 */

export interface WholePassOptions {
  readonly prune: boolean;
  readonly force: boolean;
  /** Root disk pool; detected from the default profile when absent. */
  readonly storagePool?: string;
  readonly signal?: AbortSignal;
  /**
   * The host firewall: through nft, or the reason it cannot be managed (the
   * plan then carries a blocked firewall action). Without it: no firewall action.
   */
  readonly firewall?: FirewallTarget;
  /** Services deployed into instances (the sanitizer, OpenClaw assistants), after their instance. */
  readonly services?: readonly ServiceDeployment[];
}

/** Observe Incus and the firewall, and plan (read-only: four list requests and `GET /1.0` (a cluster?), one nft listing, a health request per deployed service and a cron listing per assistant whose jobs may differ; no writes). */
export async function planAgainstIncus(client: IncusClient, model: DesiredInfra, options: WholePassOptions): Promise<Plan> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const target = options.firewall;
  const [observed, firewall, cluster] = await Promise.all([observe(client, signal), target === undefined ? null : observeTarget(target, options.signal), readCluster(client, signal)]);
  // On a cluster, or a remote Incus (no host nftables to write), isolation is Incus's network ACLs (docs/cluster.md).
  const acls = usesAcls(cluster, target);
  const storagePool = options.storagePool ?? detectStoragePool(observed);
  // Two instances with one address, on any member: refused before anything is planned or written.
  refuseAddressClashes(addressClashes(model, observed));
  const infraPlan = placeOnCluster(planInfra(model, observed, { storagePool, prune: options.prune, force: options.force, bridgeAcls: acls }), model, observed, cluster, { bridgeAcls: acls });
  const services = options.services ?? [];
  const health = await probeDeployed(services, observed, options.signal);
  const deploys = services.map((d) => planDeployment(d, observed, infraPlan.actions, health)).filter((a) => a !== null);
  const before = [...infraPlan.actions, ...deploys];
  // Assistants' cron jobs live in OpenClaw's state: asked of the running gateways whose jobs may differ.
  const listings = await listCronJobs(client, services, observed, before, options.signal);
  const crons = services.map((d) => planCron(d, observed, before, listings.get(serviceObjectId(d.project, d.instance)))).filter((a) => a !== null);
  const plan = { ...infraPlan, actions: [...before, ...crons] };
  if (acls) {
    const rendered = desiredAcls(model, holderFromObserved(model, observed).holder);
    const observedAcls = await observeAcls(client, signal);
    const aclActions = planAcls(model, rendered, observedAcls, cluster);
    // A removed domain's ACL goes after its bridge (Incus refuses to delete an ACL a bridge names).
    const bridgeDeletes = new Map(plan.actions.filter((a) => a.kind === 'network' && a.verb === 'delete').map((a) => [a.name, a.id]));
    const leftovers = planAclLeftovers(model, rendered, observedAcls, cluster, { prune: options.prune, bridgeDeletes });
    const limits = rendered.limits.map((message) => ({ group: 'firewall', kind: 'acl', name: 'isolation', message: `not as the host table: ${message}` }));
    const withAcls = withAclsFirst({ ...plan, notes: [...plan.notes, ...limits, ...leftovers.notes] }, aclActions);
    return { ...withAcls, actions: [...withAcls.actions, ...leftovers.actions] };
  }
  if (firewall === null || target === undefined) return plan;
  const action = planFirewall(desiredFirewall(model, holderFromObserved(model, observed).holder), firewall);
  return action === null ? plan : withFirewallFirst(plan, action);
}

/**
 * The ACL form of "the firewall first": a domain's bridge is written after its
 * ACL (the bridge names it), and its instances are created or started only
 * after it succeeded — when it waits for a member, they wait too.
 */
export function withAclsFirst(plan: Plan, aclActions: readonly Action[]): Plan {
  const byDomain = new Map(aclActions.map((a) => [a.group, a.id]));
  const actions = plan.actions.map((a): Action => {
    const acl = byDomain.get(a.group);
    if (acl === undefined || !(runsInstance(a) || a.kind === 'network')) return a;
    // Said in the plan, not only skipped when it runs: what waits for a member.
    const waiting = aclActions.find((x) => x.id === acl)?.blocked;
    if (waiting !== undefined && a.blocked === undefined) return { ...a, after: [...a.after, acl], blocked: `${waiting} (after ${acl})` };
    return { ...a, after: [...a.after, acl] };
  });
  return { ...plan, actions: [...aclActions, ...actions] };
}

/**
 * The firewall goes first, and instances never run without it (fail closed):
 * creating or starting an instance waits for the firewall action and is not
 * done when it fails; when the firewall cannot be applied at all (no nft, no
 * permission, a remote Incus), they are blocked with that reason. Bridges
 * only wait for it (a bridge alone reaches nothing).
 */
export function withFirewallFirst(plan: Plan, action: Action): Plan {
  if (action.blocked !== undefined) return { ...plan, actions: [action, ...withoutInstanceRuns(plan, action.blocked).actions] };
  const actions = plan.actions.map((a): Action => (runsInstance(a) ? { ...a, after: [...a.after, action.id] } : a.kind === 'network' ? { ...a, notBefore: [...(a.notBefore ?? []), action.id] } : a));
  return { ...plan, actions: [action, ...actions] };
}

/** Carry out one action: the firewall through nft (saved for the next boot), everything else through Incus. */
export function applyAnyAction(client: IncusClient, firewall: FirewallTarget | undefined, interfaces: InterfaceLock, action: Action, signal: AbortSignal, progress?: (message: string) => void): Promise<void> {
  if (action.kind === 'service') return applyDeployment(client, (action.payload as DeployPayload).deployment, signal, progress);
  if (action.kind === ACL_KIND) return applyAcl(client, action.payload as AclPayload | AclDeletePayload, signal);
  if (action.kind === 'cron') return applyCron(client, (action.payload as CronPayload).deployment, signal).then(() => undefined);
  if (action.id === FIREWALL_ACTION_ID) {
    if (firewall === undefined || !('nft' in firewall)) throw new Error('internal: a firewall action without nft');
    return applyToTarget(firewall, action.payload as FirewallPayload, signal).then(() => undefined);
  }
  return applyAction(client, action, signal, interfaces);
}

export interface ApplyOptions extends WholePassOptions {
  /** Actions in flight at once, across domains. */
  readonly concurrency: number;
  readonly onStart?: (action: Action) => void;
  readonly onOutcome?: (outcome: Outcome) => void;
  /** What a long action says while it runs (a host install, a health wait). */
  readonly onNote?: (message: string) => void;
}

/** One reconcile pass: observe, plan, execute. Level-triggered: a converged host gets zero writes. */
export async function reconcileOnce(client: IncusClient, model: DesiredInfra, options: ApplyOptions): Promise<{ plan: Plan; outcomes: Outcome[] }> {
  const plan = await planAgainstIncus(client, model, options);
  // One pass writes at a time on this host (the writer lock): the interfaces are this pass's alone.
  const interfaces = new InterfaceLock();
  const outcomes = await executePlan(plan.actions, {
    concurrency: options.concurrency,
    run: (action, signal) => applyAnyAction(client, options.firewall, interfaces, action, signal, options.onNote),
    rank: bridgesFirst,
    ...(options.onStart === undefined ? {} : { onStart: options.onStart }),
    ...(options.onOutcome === undefined ? {} : { onOutcome: options.onOutcome }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return { plan, outcomes };
}

