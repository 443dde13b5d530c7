import type { IncusClient } from '../incus/client.js';
import type { Plan } from '../reconcile/action.js';
import { executePlan, type Outcome } from '../reconcile/execute.js';
import type { Action } from '../reconcile/action.js';
import type { DesiredInfra } from '../schemas/model.js';
import { applyAction } from './apply.js';
import { detectStoragePool, observe } from './observe.js';
import { planInfra } from './plan.js';

export interface EngineOptions {
  readonly prune: boolean;
  readonly force: boolean;
  /** Root disk pool; detected from the default profile when absent. */
  readonly storagePool?: string;
  readonly signal?: AbortSignal;
}

/** Observe Incus and plan (read-only: four list requests, no writes). */
export async function planAgainstIncus(client: IncusClient, model: DesiredInfra, options: EngineOptions): Promise<Plan> {
  const observed = await observe(client, options.signal === undefined ? {} : { signal: options.signal });
  const storagePool = options.storagePool ?? detectStoragePool(observed);
  return planInfra(model, observed, { storagePool, prune: options.prune, force: options.force });
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
    run: (action, signal) => applyAction(client, action, signal),
    ...(options.onStart === undefined ? {} : { onStart: options.onStart }),
    ...(options.onOutcome === undefined ? {} : { onOutcome: options.onOutcome }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return { plan, outcomes };
}
