import type { ClusterView } from '../incus/cluster.js';
import { createHash } from 'node:crypto';
import type { Action } from '../reconcile/action.js';
import type { Outcome } from '../reconcile/execute.js';
import type { DesiredDomain } from '../schemas/model.js';
import type { CronSyncRecord } from './cron-sync.js';
import type { VerifyReport } from '../shared/verify-report.js';

/**
 * Status as Kubernetes users read it: every object and every domain carries
 * Ready / Progressing / Degraded conditions with a reason, a message and the
 * time of the last transition. The same document comes from the daemon's
 * control socket and, without a daemon, from `anklumectl status` itself.
 */
export type ConditionType = 'Ready' | 'Progressing' | 'Degraded';

export interface Condition {
  readonly type: ConditionType;
  readonly status: boolean;
  /** CamelCase cause: UpToDate, Converged, Pending, NeedsReplacement, NotOwned, Failed, ... */
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: string;
}

export interface ObjectStatus {
  readonly id: string;
  readonly kind: string;
  readonly name: string;
  readonly conditions: readonly Condition[];
  /** Instances: the pinned address and what Incus says of it. */
  readonly ip?: string;
  readonly state?: string;
  /** An assistant's cron jobs: how many infra.yml declares and the last sync's outcome (null: never synced). */
  readonly cron?: { readonly declared: number; readonly lastSync: CronSyncRecord | null; readonly summary: string };
}

export interface DomainStatus {
  readonly name: string;
  readonly enabled: boolean;
  readonly trustLevel: string;
  readonly subnet: string;
  readonly bridge: string;
  readonly aiProvider: string;
  readonly aiSanitize: boolean | 'always';
  readonly conditions: readonly Condition[];
  /** Hash of the domain's desired spec that the last reconcile worked from. */
  readonly observedSpecHash: string;
  readonly lastReconcile: { readonly time: string; readonly durationMs: number; readonly result: 'success' | 'error' } | null;
  readonly retries: number;
  readonly objects: readonly ObjectStatus[];
  /** Leftovers kept without --prune, and the like. */
  readonly notes: readonly string[];
}

export interface ConfigStatus {
  readonly file: string;
  readonly valid: boolean;
  /** The errors of the file on disk when it is invalid (the last valid one is still applied). */
  readonly errors: readonly string[];
  readonly specHash: string | null;
  readonly loadedAt: string | null;
}

export interface StatusDocument {
  readonly generatedAt: string;
  readonly daemon: { readonly running: boolean; readonly pid?: number; readonly startedAt?: string; readonly message?: string };
  readonly config: ConfigStatus;
  readonly incus: { readonly endpoint: string; readonly reachable: boolean; readonly error?: string };
  readonly events: { readonly connected: boolean; readonly reconnects: number; readonly lastEventAt: string | null } | null;
  readonly queue: { readonly depth: number; readonly inFlight: number } | null;
  /** Whether the live nftables rules are the rendered ones; `managed` is true only then. */
  readonly firewall: FirewallStatus;
  readonly aiAccess: AiAccessStatus;
  readonly domains: readonly DomainStatus[];
  /** The last `verify` run by the daemon (`--verify-every`); absent when it does not verify. */
  readonly verify?: VerifyReport | null;
  /** The Incus cluster and its members (docs/cluster.md); `clustered: false` for one server; absent or null when not read. */
  readonly cluster?: ClusterView | null;
}

/** A stable hash of a domain's desired spec (what the controllers worked from). */
export function specHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

export type Verdict = { ready: boolean; progressing: boolean; degraded: boolean; reason: string; message: string };

export function verdictOf(action: Action | undefined, outcome: Outcome | undefined, running: boolean): Verdict {
  if (action === undefined) return { ready: true, progressing: false, degraded: false, reason: 'UpToDate', message: 'matches infra.yml' };
  if (action.blocked !== undefined) {
    const reason = action.verb === 'replace' ? 'NeedsReplacement' : action.reason === 'not ours' ? 'NotOwned' : action.verb === 'delete' ? 'DeletionBlocked' : 'Blocked';
    return { ready: action.verb === 'delete', progressing: false, degraded: true, reason, message: action.blocked };
  }
  if (running) return { ready: false, progressing: true, degraded: false, reason: 'Applying', message: `${action.verb}: ${action.reason}` };
  if (outcome === undefined) return { ready: false, progressing: true, degraded: false, reason: 'Pending', message: `${action.verb} pending: ${action.reason}` };
  if (outcome.status === 'done') return { ready: true, progressing: false, degraded: false, reason: 'Converged', message: `${action.verb} done: ${action.reason}` };
  if (outcome.status === 'failed') return { ready: false, progressing: false, degraded: true, reason: 'Failed', message: `${action.verb} failed: ${outcome.error}` };
  return { ready: false, progressing: false, degraded: true, reason: 'Skipped', message: `${action.verb} not done: ${outcome.reason}` };
}

/** Conditions from a verdict, keeping the previous transition time of each unchanged condition. */
export function conditions(v: Verdict, now: string, previous: readonly Condition[] | undefined): Condition[] {
  const make = (type: ConditionType, status: boolean): Condition => {
    const before = previous?.find((c) => c.type === type);
    return { type, status, reason: v.reason, message: v.message, lastTransitionTime: before !== undefined && before.status === status ? before.lastTransitionTime : now };
  };
  return [make('Ready', v.ready), make('Progressing', v.progressing), make('Degraded', v.degraded)];
}

/** The status of one object from the actions planned for it and how they ended (pure). */
export function objectStatus(
  o: { readonly id: string; readonly kind: string; readonly name: string; readonly ip?: string; readonly state?: string; readonly cron?: ObjectStatus['cron'] },
  actions: readonly Action[],
  outcomeOf: ReadonlyMap<string, Outcome>,
  running: ReadonlySet<string> | undefined,
  now: string,
  previous: ObjectStatus | undefined,
): ObjectStatus {
  // The worst of the object's actions decides (a blocked replace beats a done start).
  const verdicts = actions.length === 0 ? [verdictOf(undefined, undefined, false)] : actions.map((a) => verdictOf(a, outcomeOf.get(a.id), running?.has(a.id) === true));
  const worst = verdicts.find((v) => v.degraded) ?? verdicts.find((v) => v.progressing) ?? verdicts[0] ?? verdictOf(undefined, undefined, false);
  const merged: Verdict = { ...worst, ready: verdicts.every((v) => v.ready) };
  return { id: o.id, kind: o.kind, name: o.name, conditions: conditions(merged, now, previous?.conditions), ...(o.ip === undefined ? {} : { ip: o.ip }), ...(o.state === undefined ? {} : { state: o.state }), ...(o.cron === undefined ? {} : { cron: o.cron }) };
}

/** A status whose objects' statuses were changed: its own conditions follow them. */
export function withObjects(domain: DesiredDomain, status: DomainStatus, objects: readonly ObjectStatus[], now: string): DomainStatus {
  return { ...status, ...rollUp(domain, objects, now, status) };
}

/** A domain's conditions from its objects' (pure). */
export function rollUp(domain: DesiredDomain, objects: readonly ObjectStatus[], now: string, previous: DomainStatus | undefined): Omit<DomainStatus, 'lastReconcile' | 'retries' | 'notes'> {
  const is = (o: ObjectStatus, type: ConditionType): boolean => o.conditions.find((c) => c.type === type)?.status === true;
  const degraded = objects.filter((o) => is(o, 'Degraded'));
  const progressing = objects.filter((o) => is(o, 'Progressing'));
  const domainVerdict: Verdict = !domain.enabled
    ? { ready: true, progressing: false, degraded: false, reason: 'Disabled', message: 'enabled: false; its objects are left alone' }
    : degraded.length > 0
      ? { ready: false, progressing: progressing.length > 0, degraded: true, reason: 'ObjectsDegraded', message: degraded.map((o) => `${o.kind} ${o.name}: ${o.conditions.find((c) => c.type === 'Degraded')?.message ?? ''}`).join('; ') }
      : progressing.length > 0
        ? { ready: false, progressing: true, degraded: false, reason: 'Converging', message: `${progressing.length} object(s) converging` }
        : { ready: true, progressing: false, degraded: false, reason: 'Converged', message: `${objects.length} object(s) match infra.yml` };
  return {
    name: domain.name,
    enabled: domain.enabled,
    trustLevel: domain.trustLevel,
    subnet: domain.network.subnet,
    bridge: domain.bridge,
    aiProvider: domain.aiProvider,
    aiSanitize: domain.aiSanitize,
    conditions: conditions(domainVerdict, now, previous?.conditions),
    observedSpecHash: specHash(domain),
    objects,
  };
}

/** Who holds AI access: the exclusive holder, or everyone with open access. */
export interface AiAccessStatus {
  readonly policy: 'open' | 'exclusive';
  /** Who may reach ai-tools now; null for nobody (or everyone, with open access). */
  readonly holder: string | null;
  readonly since?: string | null;
  /** Where the holder comes from, or why there is none, in words. */
  readonly source: string;
  /** GPU memory where a GPU is visible (nvidia-smi in the ai-tools instances). */
  readonly vram?: readonly VramReading[];
  /** Why the last VRAM reading failed (a hung or missing nvidia-smi, ...). */
  readonly vramError?: string;
  /** The holder `switch-ai` asked for (null: nobody, after a failed switch). */
  readonly wanted?: string | null;
  /** The phase of the switch in flight (revoking, stopping, flushing, granting, starting); null when none. */
  readonly phase?: string | null;
  /** Why the last switch failed (it left nobody holding access). */
  readonly lastFailure?: string;
  /** The last lines of the switch log, newest last. */
  readonly lastSwitches?: readonly string[];
}

export interface VramReading {
  readonly instance: string;
  readonly gpu: string;
  readonly usedMiB: number;
  readonly totalMiB: number;
}

/** Who holds AI access; `holder` null means it could not be read. */
/** How the live nftables table compares with the rendered one; only InSync means isolation holds as declared. */
export type FirewallLiveState = 'InSync' | 'Drifted' | 'Missing' | 'Unavailable' | 'Error';

export interface FirewallStatus {
  /** True only when the live table matches the rendered one: isolation holds as declared. */
  readonly managed: boolean;
  readonly state: FirewallLiveState | 'Unknown';
  readonly message: string;
  readonly rules: number;
  /** When the live table was last read. */
  readonly checkedAt: string | null;
  /** When anklume last wrote it (this process). */
  readonly appliedAt: string | null;
}
