import type { IncusClient } from '../incus/client.js';
import type { Plan } from '../reconcile/action.js';
import { executePlan, type Outcome } from '../reconcile/execute.js';
import type { Action } from '../reconcile/action.js';
import type { DesiredInfra } from '../schemas/model.js';
import type { Nft } from '../firewall/nft.js';
import { holderFromObserved, readHolder, type AiHolder } from './ai-access.js';
import { applyAction } from './apply.js';
import { applyDeployment } from './service/apply.js';
import type { ServiceDeployment } from './service/deployment.js';
import { planDeployment, type DeployPayload } from './service/plan.js';
import { FIREWALL_ACTION_ID, FirewallNotAppliedError, applyFirewall, desiredFirewall, firewallState, observeFirewall, planFirewall, type FirewallPayload, type FirewallState, type ObservedFirewall } from './firewall.js';
import { detectStoragePool, observe } from './observe.js';
import { planInfra } from './plan.js';

export interface EngineOptions {
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
export async function planAgainstIncus(client: IncusClient, model: DesiredInfra, options: EngineOptions): Promise<Plan> {
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

export type FirewallTarget = { readonly nft: Nft } | { readonly unavailable: string };

export function observeTarget(target: FirewallTarget, signal?: AbortSignal): Promise<ObservedFirewall> {
  if ('unavailable' in target) return Promise.resolve({ ok: false, unavailable: true, error: target.unavailable });
  return observeFirewall(target.nft, signal);
}

/** The nft of a firewall target, if it has one. */
export const nftOf = (target: FirewallTarget | undefined): Nft | undefined => (target !== undefined && 'nft' in target ? target.nft : undefined);

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
export function applyEngineAction(client: IncusClient, nft: Nft | undefined, action: Action, signal: AbortSignal): Promise<void> {
  if (action.kind === 'service') return applyDeployment(client, (action.payload as DeployPayload).deployment, signal);
  if (action.id === FIREWALL_ACTION_ID) {
    if (nft === undefined) throw new Error('internal: a firewall action without nft');
    return applyFirewall(nft, action.payload as FirewallPayload, signal).then(() => undefined);
  }
  return applyAction(client, action, signal);
}

export interface ApplyOptions extends EngineOptions {
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
    run: (action, signal) => applyEngineAction(client, nftOf(options.firewall), action, signal),
    ...(options.onStart === undefined ? {} : { onStart: options.onStart }),
    ...(options.onOutcome === undefined ? {} : { onOutcome: options.onOutcome }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return { plan, outcomes };
}

/** What one look at the firewall finds: the holder read fresh from Incus, the state of the live rules, and the action that would fix them. */
export interface FirewallCheck {
  readonly holder: AiHolder;
  readonly state: FirewallState;
  readonly action: Action<FirewallPayload> | null;
}

/**
 * Read the AI access holder from Incus (never a cache: a switch in progress
 * just wrote it) and the live table, and compare them with the model.
 */
export async function checkFirewall(client: IncusClient, model: DesiredInfra, target: FirewallTarget, signal?: AbortSignal): Promise<FirewallCheck> {
  const holder = await readHolder(client, model, signal);
  const ruleset = desiredFirewall(model, holder.holder);
  const observed = await observeTarget(target, signal);
  return { holder, state: firewallState(ruleset, observed), action: planFirewall(ruleset, observed) };
}

/**
 * Bring the firewall to the model and the holder recorded in Incus now,
 * without a daemon: what `switch-ai` does between steps. Throws unless the
 * live rules end up as rendered.
 */
export async function syncFirewallNow(client: IncusClient, model: DesiredInfra, target: FirewallTarget, signal?: AbortSignal): Promise<void> {
  const { action } = await checkFirewall(client, model, target, signal);
  if (action === null) return;
  const nft = nftOf(target);
  if (action.blocked !== undefined || nft === undefined) throw new FirewallNotAppliedError(action.blocked ?? 'no nft to apply the firewall with');
  await applyFirewall(nft, action.payload, signal);
}
