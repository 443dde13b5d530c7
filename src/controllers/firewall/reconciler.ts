import type { IncusClient } from '../../incus/client.js';
import { SINGLE_SERVER, type ClusterView } from '../../incus/cluster.js';
import type { Action } from '../../reconcile/action.js';
import { readHolder } from '../ai-access/holder.js';
import { RESEND_REASON, aclFirewallState, applyAcl, desiredAcls, observeAcls, planAclLeftovers, planAcls, usesAcls, type AclDeletePayload, type AclPayload } from './acl.js';
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
  /**
   * Is Incus a cluster, and which members are up (read before each pass: it
   * can become one). On a cluster or a remote Incus the firewall is the
   * domains' network ACLs (acl.ts; docs/cluster.md). Without it: one host.
   */
  readonly cluster?: (signal: AbortSignal) => Promise<ClusterView>;
  /** Delete this infra's ACLs of domains gone from infra.yml (the daemon's --prune). */
  readonly prune?: boolean;
  /** Write every ACL again, unchanged, at most this often (ms): a member that missed an update renders it again. Off when absent. */
  readonly resendEveryMs?: number;
}

/**
 * The firewall controller: reads the AI access holder from Incus and the
 * live `inet anklume` table, and replaces the table when it differs. nft
 * sends no events, so the daemon also enqueues it on a timer; it runs on a
 * queue of its own, never behind a domain, a GPU reading or a deploy. On a
 * cluster or a remote Incus the same model is the domains' network ACLs
 * instead (decided before each pass: Incus can become a cluster).
 */
export class FirewallReconciler implements Reconciler {
  readonly name = 'firewall';
  private current: FirewallStatus = firewallStatus(null, { checkedAt: null });
  /** One nft transaction at a time: the timer's check, a domain that needs the rules first, a switch. */
  private inFlight: Promise<void> | undefined;
  private nextPrune = false;
  /** When every ACL was last written again (Date.now()). */
  private lastResend: number | undefined;
  private lastLeftoverNotes = '[]';

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

  /** Prune leftover ACLs on the next pass only (`anklumectl apply --prune` through the daemon). */
  pruneOnNextPass(): void {
    this.nextPrune = true;
  }

  private async pass(signal: AbortSignal): Promise<void> {
    const { deps } = this;
    const cluster = deps.cluster === undefined ? SINGLE_SERVER : await deps.cluster(signal);
    if (usesAcls(cluster, deps.target)) {
      await this.aclPass(cluster, signal);
      return;
    }
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

  /**
   * The ACL form (docs/cluster.md): every ACL that is missing or differs is
   * written, leftovers are pruned when asked, and every ACL is written again
   * when the re-send is due; then they are read back for status. A write that
   * waits for a member is not made, and the state says which member.
   */
  private async aclPass(cluster: ClusterView, signal: AbortSignal): Promise<void> {
    const { deps } = this;
    const model = deps.model();
    const holder = await readHolder(deps.client, model, signal);
    const rendered = desiredAcls(model, holder.holder);
    const observed = await observeAcls(deps.client, { signal });
    const resend = deps.resendEveryMs !== undefined && (this.lastResend === undefined || Date.now() - this.lastResend >= deps.resendEveryMs);
    const prune = this.nextPrune || deps.prune === true;
    this.nextPrune = false;
    const leftovers = planAclLeftovers(model, rendered, observed, cluster, { prune });
    const actions = [...planAcls(model, rendered, observed, cluster, { resend }), ...leftovers.actions].filter((a) => a.blocked === undefined) as Action<AclPayload | AclDeletePayload>[];
    const leftoverNotes = JSON.stringify(leftovers.notes);
    if (leftoverNotes !== this.lastLeftoverNotes) {
      this.lastLeftoverNotes = leftoverNotes;
      for (const note of leftovers.notes) deps.logger.info({ domain: note.group, object: `${note.kind} ${note.name}` }, note.message);
    }
    const failures: string[] = [];
    let written = false;
    for (const action of actions) {
      // A re-send changes nothing anyone asked for: it is not shown as work done (a converged pass stays "nothing to do").
      const quiet = action.reason === RESEND_REASON;
      const started = performance.now();
      if (!quiet) deps.onActivity?.({ type: 'start', action });
      try {
        await applyAcl(deps.client, action.payload, signal);
        written = true;
        const ms = performance.now() - started;
        if (quiet) deps.logger.debug({ action: action.id, ms: Math.round(ms) }, `re-sent network ACL ${action.name}`);
        else {
          deps.logger.info({ action: action.id, verb: action.verb, reason: action.reason, result: 'done', ms: Math.round(ms) }, `${action.verb} network ACL ${action.name}`);
          deps.onActivity?.({ type: 'outcome', outcome: { status: 'done', action, ms } });
        }
      } catch (err) {
        const ms = performance.now() - started;
        failures.push(`${action.id}: ${describeError(err)}`);
        deps.logger.error({ action: action.id, verb: action.verb, reason: action.reason, result: 'failed', ms: Math.round(ms), err: describeError(err) }, `${action.verb} network ACL ${action.name} failed`);
        deps.onActivity?.({ type: 'outcome', outcome: { status: 'failed', action, ms, error: describeError(err), cause: err } });
      }
    }
    if (resend && failures.length === 0) this.lastResend = Date.now();
    // Read back: status says what Incus holds, not what was sent.
    const after = written ? await observeAcls(deps.client, { signal }) : observed;
    const state = aclFirewallState(model, rendered, after, cluster);
    const checkedAt = this.now();
    if (failures.length > 0) {
      this.set({ ...state, message: `${state.message}; writing failed: ${failures.join('; ')}` }, checkedAt, 'none');
      throw new AnklumeError('FIREWALL_NOT_APPLIED', `network ACLs not written: ${failures.join('; ')}`);
    }
    this.set(state, checkedAt, state.state === 'InSync' ? 'debug' : 'error', written && actions.some((a) => a.reason !== RESEND_REASON) ? this.now() : undefined);
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
