import type { IncusClient } from '../incus/client.js';
import type { Plan } from '../reconcile/action.js';
import { executePlan, type Outcome } from '../reconcile/execute.js';
import type { Action } from '../reconcile/action.js';
import type { DesiredInfra } from '../schemas/model.js';
import type { Nft } from '../firewall/nft.js';
import { holderFromObserved } from './ai-access/holder.js';
import { nftOf, observeTarget, type FirewallTarget } from './firewall/check.js';
import { applyAction } from './domain/apply.js';
import { applyDeployment } from './service/apply.js';
import type { ServiceDeployment } from './service/deployment.js';
import { planDeployment, type DeployPayload } from './service/plan.js';
import { FIREWALL_ACTION_ID, applyFirewall, desiredFirewall, planFirewall, type FirewallPayload } from './firewall/table.js';
import { detectStoragePool, observe } from './domain/observe.js';
import { planInfra } from './domain/plan.js';

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

/** Observe Incus and the firewall, and plan (read-only: four list requests and one nft listing, no writes). */
export async function planAgainstIncus(client: IncusClient, model: DesiredInfra, options: WholePassOptions): Promise<Plan> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const target = options.firewall;
  const [observed, firewall] = await Promise.all([observe(client, signal), target === undefined ? null : observeTarget(target, options.signal)]);
  const storagePool = options.storagePool ?? detectStoragePool(observed);
  const infraPlan = planInfra(model, observed, { storagePool, prune: options.prune, force: options.force });
  const deploys = (options.services ?? []).map((d) => planDeployment(d, observed, infraPlan.actions)).filter((a) => a !== null);
  const plan = { ...infraPlan, actions: [...infraPlan.actions, ...deploys] };
  if (firewall === null || target === undefined) return plan;
  const action = planFirewall(desiredFirewall(model, holderFromObserved(model, observed).holder), firewall);
  return action === null ? plan : withFirewallFirst(plan, action);
}

/**
 * The firewall goes first: bridges and instances come up already isolated
 * (its drop rules match every `net-*` bridge, even one created later).
 * Ordering only: a host without nft still gets its instances, reported Degraded.
 */
export function withFirewallFirst(plan: Plan, action: Action): Plan {
  if (action.blocked !== undefined) return { ...plan, actions: [action, ...plan.actions] };
  const actions = plan.actions.map((a) => (a.kind === 'network' || a.kind === 'instance' ? { ...a, notBefore: [...(a.notBefore ?? []), action.id] } : a));
  return { ...plan, actions: [action, ...actions] };
}

/** Carry out one action: the firewall through nft, everything else through Incus. */
export function applyAnyAction(client: IncusClient, nft: Nft | undefined, action: Action, signal: AbortSignal): Promise<void> {
  if (action.kind === 'service') return applyDeployment(client, (action.payload as DeployPayload).deployment, signal);
  if (action.id === FIREWALL_ACTION_ID) {
    if (nft === undefined) throw new Error('internal: a firewall action without nft');
    return applyFirewall(nft, action.payload as FirewallPayload, signal).then(() => undefined);
  }
  return applyAction(client, action, signal);
}

export interface ApplyOptions extends WholePassOptions {
  /** Actions in flight at once, across domains. */
  readonly concurrency: number;
  readonly onStart?: (action: Action) => void;
  readonly onOutcome?: (outcome: Outcome) => void;
}

/** One reconcile pass: observe, plan, execute. Level-triggered: a converged host gets zero writes. */
export async function reconcileOnce(client: IncusClient, model: DesiredInfra, options: ApplyOptions): Promise<{ plan: Plan; outcomes: Outcome[] }> {
  const plan = await planAgainstIncus(client, model, options);
  const outcomes = await executePlan(plan.actions, {
    concurrency: options.concurrency,
    run: (action, signal) => applyAnyAction(client, nftOf(options.firewall), action, signal),
    ...(options.onStart === undefined ? {} : { onStart: options.onStart }),
    ...(options.onOutcome === undefined ? {} : { onOutcome: options.onOutcome }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return { plan, outcomes };
}

