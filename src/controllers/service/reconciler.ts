import type { IncusClient } from '../../incus/client.js';
import type { Outcome } from '../../reconcile/execute.js';
import type { Reconciler, ReconcileContext } from '../../reconcile/reconciler.js';
import type { DesiredInfra } from '../../schemas/model.js';
import { describeError } from '../../shared/errors.js';
import { logOutcome, type Activity } from '../activity.js';
import { scoped, type Observed } from '../observed.js';
import { objectStatus, type ObjectStatus } from '../status.js';
import { applyDeployment } from './apply.js';
import type { ServiceDeployment } from './deployment.js';
import { servicesOf } from '../../schemas/services.js';
import { serviceObjectId } from '../object-id.js';
import { probeDeployed } from './health.js';
import { planDeployment } from './plan.js';
import { applyCron } from './cron-apply.js';
import { planCron } from './cron-plan.js';
import type { Action } from '../../reconcile/action.js';

/** How often a deployed service's health is asked again (it is also asked on every event of its instance). */
export const HEALTH_PERIOD_MS = 30_000;

export interface ServiceReconcilerDeps {
  readonly client: IncusClient;
  readonly model: () => DesiredInfra;
  /** The services to deploy for the current infra.yml (built once per text: the bundle and keys are read then). */
  readonly deployments: () => Promise<readonly ServiceDeployment[]>;
  readonly observe: (signal: AbortSignal) => Promise<Observed>;
  readonly invalidate: () => void;
  readonly onActivity?: (activity: Activity) => void;
  readonly now?: () => Date;
}

/** Every service the model deploys, with its key (its status id: `service/<project>/<instance>`). */
function servicesByKey(model: DesiredInfra): { readonly key: string; readonly domain: string; readonly name: string }[] {
  return model.domains.flatMap((d) => servicesOf(model, d).map((s) => ({ key: serviceObjectId(d.project, s.instance), domain: d.name, name: s.name })));
}

/** The service keys of a domain. */
export function serviceKeys(model: DesiredInfra, domain: string): string[] {
  return servicesByKey(model).filter((s) => s.domain === domain).map((s) => s.key);
}

/**
 * The deployed-service controller: one key per service (the sanitizer or an
 * OpenClaw assistant in one instance). Deploys once its instance runs (the
 * domain controller makes it run; the instance's events bring the key back)
 * and when what is wanted changed, on a queue of its own: a deploy's health
 * wait never holds up a domain or the firewall.
 */
export class ServiceReconciler implements Reconciler {
  readonly name = 'service';
  private readonly statuses = new Map<string, ObjectStatus>();

  constructor(private readonly deps: ServiceReconcilerDeps) {}

  /** The status of a service by its id, as its last reconcile left it. */
  status(id: string): ObjectStatus | undefined {
    return this.statuses.get(id);
  }

  async reconcile(ctx: ReconcileContext, key: string): Promise<{ requeueAfterMs: number } | undefined> {
    const { deps } = this;
    const model = deps.model();
    const service = servicesByKey(model).find((s) => s.key === key);
    if (service === undefined) {
      this.statuses.delete(key); // left infra.yml since it was queued
      return;
    }
    const deployment = (await deps.deployments()).find((d) => serviceObjectId(d.project, d.instance) === key);
    if (deployment === undefined) throw new Error(`internal: no deployment built for ${key}`);
    const observed = await deps.observe(ctx.signal);
    const instance = observed.instances.get(scoped(deployment.project, deployment.instance));
    const action = planDeployment(deployment, observed, [], await probeDeployed([deployment], observed, ctx.signal));
    const object = { id: key, kind: 'service', name: service.name };
    const publish = (outcome?: Outcome, running = false): void => {
      const outcomes = new Map(outcome === undefined ? [] : [[outcome.action.id, outcome]]);
      this.statuses.set(key, objectStatus(object, action === null ? [] : [action], outcomes, running && action !== null ? new Set([action.id]) : undefined, this.now(), this.statuses.get(key)));
    };
    if (action === null) {
      publish();
      await this.syncCron(ctx, deployment, planCron(deployment, observed, [], undefined));
      // Healthy now; asked again later, so a crashed service stops being Ready and is redeployed.
      return { requeueAfterMs: HEALTH_PERIOD_MS };
    }
    if (action.blocked !== undefined) {
      const outcome: Outcome = { status: 'skipped', action, reason: action.blocked };
      publish(outcome);
      deps.onActivity?.({ type: 'outcome', outcome });
      return undefined;
    }
    if (instance?.status !== 'Running') {
      // Pending, not failed: the domain controller creates or starts it, and its start event brings this key back.
      publish();
      return undefined;
    }
    publish(undefined, true);
    deps.onActivity?.({ type: 'start', action });
    const started = performance.now();
    let outcome: Outcome;
    try {
      await applyDeployment(deps.client, deployment, ctx.signal);
      outcome = { status: 'done', action, ms: performance.now() - started };
    } catch (err) {
      outcome = { status: 'failed', action, ms: performance.now() - started, error: describeError(err), cause: err };
    } finally {
      deps.invalidate();
    }
    publish(outcome);
    logOutcome(ctx, outcome);
    deps.onActivity?.({ type: 'outcome', outcome });
    if (outcome.status === 'failed') throw outcome.cause;
    await this.syncCron(ctx, deployment, planCron(deployment, await deps.observe(ctx.signal), [], undefined));
    return { requeueAfterMs: HEALTH_PERIOD_MS };
  }

  /**
   * An assistant's cron jobs, once its gateway answers: only when the hash on
   * the instance says they may differ (a listing costs a Node start in the
   * instance), and then only the writes the diff asks for.
   */
  private async syncCron(ctx: ReconcileContext, deployment: ServiceDeployment, action: Action | null): Promise<void> {
    if (action === null || action.blocked !== undefined) return;
    this.deps.onActivity?.({ type: 'start', action });
    const started = performance.now();
    let outcome: Outcome;
    try {
      await applyCron(this.deps.client, deployment, ctx.signal);
      outcome = { status: 'done', action, ms: performance.now() - started };
    } catch (err) {
      outcome = { status: 'failed', action, ms: performance.now() - started, error: describeError(err), cause: err };
    } finally {
      this.deps.invalidate();
    }
    logOutcome(ctx, outcome);
    this.deps.onActivity?.({ type: 'outcome', outcome });
    if (outcome.status === 'failed') throw outcome.cause;
  }

  private now(): string {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }
}
