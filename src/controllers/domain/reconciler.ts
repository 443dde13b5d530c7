import type { LimitFunction } from 'p-limit';
import type { IncusClient } from '../../incus/client.js';
import type { Plan } from '../../reconcile/action.js';
import { executePlan, type Outcome } from '../../reconcile/execute.js';
import type { Reconciler, ReconcileContext } from '../../reconcile/reconciler.js';
import type { DesiredInfra } from '../../schemas/model.js';
import { AnklumeError } from '../../shared/errors.js';
import { logOutcome, type Activity } from '../activity.js';
import { applyAction } from './apply.js';
import type { InterfaceLock } from './interface-lock.js';
import { detectStoragePool } from './observe.js';
import type { Observed } from '../observed.js';
import { planInfra, runsInstance, withoutInstanceRuns } from './plan.js';
import type { DomainStatus } from '../status.js';
import { domainStatus } from './status.js';
import { SINGLE_SERVER, type ClusterView } from '../../incus/cluster.js';
import { addressClashes, addressRefusal, placeOnCluster, withoutBridgeWrites } from './cluster-plan.js';

/** The key of a domain's objects; {@link LEFTOVERS} holds this infra's objects whose domain left infra.yml. */
export const domainKey = (domain: string): string => `domain/${domain}`;
export const LEFTOVERS = 'leftovers';

export interface DomainPassOptions {
  /** Delete managed objects that left infra.yml. */
  readonly prune: boolean;
  /** Renumber, delete protected instances, delete more than half. */
  readonly force: boolean;
}

export interface DomainReconcilerDeps {
  readonly client: IncusClient;
  readonly model: () => DesiredInfra;
  /** The shared observation (one set of list requests for the reconciles that run together). */
  readonly observe: (signal: AbortSignal) => Promise<Observed>;
  /** What was written is no longer what the shared observation holds. */
  readonly invalidate: () => void;
  readonly defaults: DomainPassOptions;
  /** Root disk pool; detected from the default profile when absent. */
  readonly storagePool?: string;
  /**
   * Incus writes in flight at once, across every domain's pass: one limit for
   * the whole daemon, so domains reconciled together do not multiply it.
   */
  readonly writes: LimitFunction;
  /**
   * Bridges and instances come up behind the rules: bring the firewall in
   * place first. Resolves with why it is not in place, or undefined when it is
   * (its failure is the firewall controller's to report and retry).
   */
  readonly firewallFirst: (signal: AbortSignal) => Promise<string | undefined>;
  /** Bridge writes exclude instance starts host-wide, across domains (see interface-lock.ts). */
  readonly interfaceLock: InterfaceLock;
  readonly retries: (key: string) => number;
  /** The cluster as the shared observation last read it (placement, members down); one host when absent. */
  readonly cluster?: () => ClusterView;
  /** Bridges name their domain's network ACL (a cluster, a remote Incus: docs/cluster.md). */
  readonly bridgeAcls?: () => boolean;
  readonly onActivity?: (activity: Activity) => void;
  /** Wall-clock time for status (injected for tests). */
  readonly now?: () => Date;
}

/**
 * The domain controller: a domain's project, bridge, profiles and instances
 * (key `domain/<name>`), and the leftovers of domains gone from infra.yml
 * (key `leftovers`). Plans its own objects only, from the shared observation.
 */
export class DomainReconciler implements Reconciler {
  readonly name = 'domain';
  private readonly statuses = new Map<string, DomainStatus>();
  private readonly running = new Set<string>();
  private readonly once = new Map<string, DomainPassOptions>();
  /** Leftover notes are logged when they change, not on every pass. */
  private lastLeftoverNotes = '[]';

  constructor(private readonly deps: DomainReconcilerDeps) {}

  /** The status of a domain as its last reconcile left it. */
  status(domain: string): DomainStatus | undefined {
    return this.statuses.get(domain);
  }

  /** Forget the statuses of domains no longer in infra.yml. */
  retain(domains: ReadonlySet<string>): void {
    for (const name of this.statuses.keys()) if (!domains.has(name)) this.statuses.delete(name);
  }

  /** Options for the next run of `key` only (`anklumectl apply --prune` through the daemon). */
  setNextPassOptions(key: string, options: DomainPassOptions): void {
    this.once.set(key, options);
  }

  async reconcile(ctx: ReconcileContext, key: string): Promise<void> {
    const { deps } = this;
    const started = performance.now();
    const pass = this.once.get(key) ?? deps.defaults;
    this.once.delete(key);
    const model = deps.model();
    const name = key === LEFTOVERS ? null : key.slice('domain/'.length);
    const domain = name === null ? undefined : model.domains.find((d) => d.name === name);
    if (name !== null && domain === undefined) return; // left infra.yml since it was queued
    const known = new Set(model.domains.map((d) => d.name));

    const observed = await deps.observe(ctx.signal);
    // Read after the observation: the same relist read both.
    const cluster = deps.cluster?.() ?? SINGLE_SERVER;
    const bridgeAcls = deps.bridgeAcls?.() ?? false;
    const only = (group: string): boolean => (name === null ? !known.has(group) : group === name);
    const storagePool = deps.storagePool ?? detectStoragePool(observed);
    let plan: Plan = placeOnCluster(planInfra(model, observed, { storagePool, prune: pass.prune, force: pass.force, only, bridgeAcls }), model, observed, cluster, { bridgeAcls, only });
    // This domain's machines against every instance on every member: an address held twice writes nothing,
    // every action says why in the domain's status, and the run fails.
    const refusal = addressRefusal(addressClashes(model, observed).filter((c) => only(c.domain)));
    if (refusal !== undefined) plan = { ...plan, actions: plan.actions.map((a) => (a.blocked === undefined ? { ...a, blocked: refusal.message } : a)) };
    // Fail closed: no instance is created or started while the firewall is not in place.
    if (plan.actions.some((a) => a.blocked === undefined && (a.kind === 'network' || runsInstance(a)))) {
      const notInPlace = await deps.firewallFirst(ctx.signal);
      // Where bridges name their ACL, a bridge is not written before the ACLs are in place either.
      if (notInPlace !== undefined) plan = withoutInstanceRuns(bridgeAcls ? withoutBridgeWrites(plan, notInPlace) : plan, notInPlace);
    }

    const outcomes: Outcome[] = [];
    const now = (): string => (deps.now?.() ?? new Date()).toISOString();
    const publish = (lastReconcile?: DomainStatus['lastReconcile']): void => {
      if (domain === undefined) return;
      const previous = this.statuses.get(domain.name);
      this.statuses.set(domain.name, domainStatus({ model, domain, plan, outcomes, observed, running: this.running, now: now(), previous, lastReconcile: lastReconcile ?? previous?.lastReconcile ?? null, retries: deps.retries(key) }));
    };
    for (const action of plan.actions) if (action.blocked !== undefined) ctx.log.warn({ action: action.id, reason: action.blocked }, 'not done');
    // Leftovers of domains gone from infra.yml have no domain status to carry their notes: log them.
    const notesText = JSON.stringify(plan.notes);
    if (name === null && notesText !== this.lastLeftoverNotes) {
      this.lastLeftoverNotes = notesText;
      for (const note of plan.notes) ctx.log.info({ domain: note.group, object: `${note.kind} ${note.name}` }, note.message);
    }
    for (const note of plan.notes) deps.onActivity?.({ type: 'note', note });

    if (plan.actions.some((a) => a.blocked === undefined)) {
      publish();
      try {
        await executePlan(plan.actions, {
          concurrency: deps.writes.concurrency,
          signal: ctx.signal,
          run: (action, signal) => deps.writes(() => applyAction(deps.client, action, signal, deps.interfaceLock)),
          onStart: (action) => {
            this.running.add(action.id);
            deps.onActivity?.({ type: 'start', action });
            publish();
          },
          onOutcome: (o) => {
            this.running.delete(o.action.id);
            outcomes.push(o);
            logOutcome(ctx, o);
            deps.onActivity?.({ type: 'outcome', outcome: o });
            publish();
          },
        });
      } finally {
        deps.invalidate();
      }
    } else {
      for (const action of plan.actions) deps.onActivity?.({ type: 'outcome', outcome: { status: 'skipped', action, reason: action.blocked ?? '' } });
    }
    const failed = outcomes.filter((o) => o.status === 'failed');
    publish({ time: now(), durationMs: Math.round(performance.now() - started), result: failed.length > 0 || refusal !== undefined ? 'error' : 'success' });
    if (refusal !== undefined) throw refusal;
    if (failed.length > 0) throw new AnklumeError('RECONCILE_FAILED', `${failed.length} action(s) failed: ${failed.map((o) => `${o.action.id}: ${o.status === 'failed' ? o.error : ''}`).join('; ')}`);
  }
}
