import type { IncusClient } from '../../incus/client.js';
import type { Reconciler, ReconcileContext } from '../../reconcile/reconciler.js';
import type { DesiredInfra } from '../../schemas/model.js';
import { AnklumeError, describeError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Activity } from '../activity.js';
import { applyToTarget, checkFirewall, type FirewallTarget } from './check.js';
import { firewallStatus, type FirewallState } from './table.js';
import type { FirewallStatus } from '../status.js';

/** The firewall's one key: the table is one object, rendered from the whole model. */
export const FIREWALL_KEY = 'firewall';

export interface FirewallReconcilerDeps {
  readonly client: IncusClient;
  readonly model: () => DesiredInfra;
  /** nft, or why the host firewall cannot be managed (a remote Incus). */
  readonly target: FirewallTarget;
  readonly logger: Logger;
  readonly onActivity?: (activity: Activity) => void;
  readonly now?: () => Date;
}

/**
 * The firewall controller: reads the AI access holder from Incus and the
 * live `inet anklume` table, and replaces the table when it differs. nft
 * sends no events, so the daemon also enqueues it on a timer; it runs on a
 * queue of its own, never behind a domain, a GPU reading or a deploy.
 */
export class FirewallReconciler implements Reconciler {
  readonly name = 'firewall';
  private current: FirewallStatus = firewallStatus(null, { checkedAt: null });
  /** One nft transaction at a time: the timer's check, a domain that needs the rules first, a switch. */
  private inFlight: Promise<void> | undefined;

  constructor(private readonly deps: FirewallReconcilerDeps) {}

  status(): FirewallStatus {
    return this.current;
  }

  /** Throws when the rules are not in place (the queue backs off and tries again). */
  async reconcile(ctx: ReconcileContext): Promise<void> {
    await this.sync(ctx.signal);
    if (!this.current.managed) throw new AnklumeError('FIREWALL_NOT_APPLIED', this.current.message);
  }

  /** Bring the table to the model now. Serialised: concurrent callers wait for the pass in flight, then run their own. */
  sync(signal: AbortSignal): Promise<void> {
    const previous = this.inFlight ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.pass(signal));
    this.inFlight = next;
    return next;
  }

  private async pass(signal: AbortSignal): Promise<void> {
    const { deps } = this;
    const { state: before, action } = await checkFirewall(deps.client, deps.model(), deps.target, signal);
    const checkedAt = this.now();
    const target = deps.target;
    if (action === null || action.blocked !== undefined || !('nft' in target)) {
      this.set(before, checkedAt, before.state === 'InSync' ? 'debug' : 'error');
      return;
    }
    const log = deps.logger;
    const started = performance.now();
    deps.onActivity?.({ type: 'start', action });
    let after: FirewallState;
    try {
      after = await applyToTarget(target, action.payload, signal);
    } catch (err) {
      const ms = performance.now() - started;
      log.error({ action: action.id, verb: action.verb, reason: action.reason, result: 'failed', ms: Math.round(ms), err: describeError(err) }, `${action.verb} firewall inet anklume failed`);
      deps.onActivity?.({ type: 'outcome', outcome: { status: 'failed', action, ms, error: describeError(err), cause: err } });
      this.set({ ...before, message: `${before.message}; applying failed: ${describeError(err)}` }, checkedAt, 'none');
      throw err;
    }
    const ms = performance.now() - started;
    log.info({ action: action.id, verb: action.verb, reason: action.reason, result: 'done', changes: action.changes.length, ms: Math.round(ms) }, `${action.verb} firewall inet anklume`);
    deps.onActivity?.({ type: 'outcome', outcome: { status: 'done', action, ms } });
    this.set(after, checkedAt, 'none', this.now());
  }

  private now(): string {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }

  private set(state: FirewallState, checkedAt: string, logLevel: 'debug' | 'error' | 'none', appliedAt?: string): void {
    const previous = this.current;
    this.current = firewallStatus(state, { checkedAt, appliedAt: appliedAt ?? previous.appliedAt });
    // Say it when the state changes, not on every check.
    if (logLevel !== 'none' && (previous.state !== this.current.state || previous.message !== this.current.message)) {
      if (logLevel === 'error') this.deps.logger.error({ key: FIREWALL_KEY, state: state.state }, state.message);
      else this.deps.logger.debug({ key: FIREWALL_KEY, state: state.state }, state.message);
    }
  }
}
