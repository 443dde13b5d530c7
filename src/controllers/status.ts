import { createHash } from 'node:crypto';
import type { Action, Plan } from '../reconcile/action.js';
import type { Outcome } from '../reconcile/execute.js';
import type { DesiredDomain, DesiredInfra } from '../schemas/model.js';
import { objectId } from './domain/plan-config-object.js';
import { servicesOf } from './service/plan.js';
import type { AiHolder } from './ai-access/holder.js';
import type { FirewallState } from './firewall/table.js';
import { scoped, type Observed } from './domain/observed.js';

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
}

/** A stable hash of a domain's desired spec (what the controllers worked from). */
export function specHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

type Verdict = { ready: boolean; progressing: boolean; degraded: boolean; reason: string; message: string };

function verdictOf(action: Action | undefined, outcome: Outcome | undefined, running: boolean): Verdict {
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
function conditions(v: Verdict, now: string, previous: readonly Condition[] | undefined): Condition[] {
  const make = (type: ConditionType, status: boolean): Condition => {
    const before = previous?.find((c) => c.type === type);
    return { type, status, reason: v.reason, message: v.message, lastTransitionTime: before !== undefined && before.status === status ? before.lastTransitionTime : now };
  };
  return [make('Ready', v.ready), make('Progressing', v.progressing), make('Degraded', v.degraded)];
}

export interface DomainStatusInput {
  readonly model: DesiredInfra;
  readonly domain: DesiredDomain;
  /** The plan of this domain only. */
  readonly plan: Plan;
  readonly outcomes: readonly Outcome[];
  readonly observed: Observed;
  /** Ids of actions running now. */
  readonly running?: ReadonlySet<string>;
  readonly now: string;
  readonly previous?: DomainStatus | undefined;
  readonly lastReconcile: DomainStatus['lastReconcile'];
  readonly retries: number;
}

/** The status of one domain and its objects (pure). */
export function domainStatus(input: DomainStatusInput): DomainStatus {
  const { domain, plan, observed, now } = input;
  const byObject = new Map<string, Action[]>();
  for (const action of plan.actions) {
    const base = action.id.split('#')[0] ?? action.id;
    byObject.set(base, [...(byObject.get(base) ?? []), action]);
  }
  const outcomeOf = new Map(input.outcomes.map((o) => [o.action.id, o]));
  const previousObjects = new Map((input.previous?.objects ?? []).map((o) => [o.id, o]));

  const objectIds: { id: string; kind: string; name: string; ip?: string; state?: string }[] = [];
  if (domain.enabled) {
    objectIds.push({ id: objectId('network', null, domain.bridge), kind: 'network', name: domain.bridge });
    objectIds.push({ id: objectId('project', null, domain.project), kind: 'project', name: domain.project });
    for (const p of ['default', ...domain.profiles.map((x) => x.name)]) objectIds.push({ id: objectId('profile', domain.project, p), kind: 'profile', name: p });
    for (const m of domain.machines) {
      const actual = observed.instances.get(scoped(domain.project, m.name));
      objectIds.push({ id: objectId('instance', domain.project, m.name), kind: 'instance', name: m.name, ip: m.ip, state: actual?.status ?? 'Missing' });
    }
    // Services anklume deploys into an instance: their deploy action says how they stand.
    for (const s of servicesOf(input.model, domain)) objectIds.push({ id: s.id, kind: 'service', name: s.name });
  }
  // Deletions of leftovers are objects of the domain too, while they last.
  for (const action of plan.actions) {
    const base = action.id.split('#')[0] ?? action.id;
    if (action.verb === 'delete' && !objectIds.some((o) => o.id === base)) objectIds.push({ id: base, kind: action.kind, name: action.name });
  }

  const objects = objectIds.map((o) => objectStatus(o, byObject.get(o.id) ?? [], outcomeOf, input.running, now, previousObjects.get(o.id)));
  return {
    ...rollUp(domain, objects, now, input.previous),
    lastReconcile: input.lastReconcile,
    retries: input.retries,
    notes: plan.notes.map((n) => `${n.kind} ${n.name}: ${n.message}`),
  };
}

/** The status of one object from the actions planned for it and how they ended (pure). */
export function objectStatus(
  o: { readonly id: string; readonly kind: string; readonly name: string; readonly ip?: string; readonly state?: string },
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
  return { id: o.id, kind: o.kind, name: o.name, conditions: conditions(merged, now, previous?.conditions), ...(o.ip === undefined ? {} : { ip: o.ip }), ...(o.state === undefined ? {} : { state: o.state }) };
}

/** A status whose objects' statuses were changed: its own conditions follow them. */
export function withObjects(domain: DesiredDomain, status: DomainStatus, objects: readonly ObjectStatus[], now: string): DomainStatus {
  return { ...status, ...rollUp(domain, objects, now, status) };
}

/** A domain's conditions from its objects' (pure). */
function rollUp(domain: DesiredDomain, objects: readonly ObjectStatus[], now: string, previous: DomainStatus | undefined): Omit<DomainStatus, 'lastReconcile' | 'retries' | 'notes'> {
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

/** The slice of a whole-infra plan that belongs to one domain. */
export function planOfDomain(plan: Plan, domain: string): Plan {
  return { actions: plan.actions.filter((a) => a.group === domain), notes: plan.notes.filter((n) => n.group === domain) };
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
}

export interface VramReading {
  readonly instance: string;
  readonly gpu: string;
  readonly usedMiB: number;
  readonly totalMiB: number;
}

/** Who holds AI access; `holder` null means it could not be read. */
export function aiAccess(model: DesiredInfra, holder: AiHolder | null, vram?: readonly VramReading[]): AiAccessStatus {
  if (model.ai.accessPolicy === 'open') return { policy: 'open', holder: null, source: 'open access: every domain may reach ai-tools' };
  const gpu = vram === undefined || vram.length === 0 ? {} : { vram };
  if (holder === null) return { policy: 'exclusive', holder: null, since: null, source: 'unknown: Incus could not be read', ...gpu };
  const source = holder.source === 'switch-ai' ? 'switch-ai' : holder.source === 'ai_access_default' ? 'ai_access_default (no switch yet)' : `nobody: ${holder.note ?? 'no holder'}`;
  return { policy: 'exclusive', holder: holder.holder, since: holder.since, source, ...gpu };
}

export interface FirewallStatus {
  /** True only when the live table matches the rendered one: isolation holds as declared. */
  readonly managed: boolean;
  readonly state: FirewallState['state'] | 'Unknown';
  readonly message: string;
  readonly rules: number;
  /** When the live table was last read. */
  readonly checkedAt: string | null;
  /** When anklume last wrote it (this process). */
  readonly appliedAt: string | null;
}

export function firewallStatus(state: FirewallState | null, times: { checkedAt: string | null; appliedAt?: string | null }): FirewallStatus {
  if (state === null) return { managed: false, state: 'Unknown', message: 'not checked yet', rules: 0, checkedAt: times.checkedAt, appliedAt: times.appliedAt ?? null };
  return { managed: state.state === 'InSync', state: state.state, message: state.message, rules: state.rules, checkedAt: times.checkedAt, appliedAt: times.appliedAt ?? null };
}
