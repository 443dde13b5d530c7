import type { Action, Plan } from '../../reconcile/action.js';
import type { Outcome } from '../../reconcile/execute.js';
import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import { servicesOf } from '../../schemas/services.js';
import { objectId, serviceObjectId } from '../object-id.js';
import { scoped, type Observed } from '../observed.js';
import { CRON_SYNC_KEY, describeCronSync, parseCronSyncRecord } from '../cron-sync.js';
import { objectStatus, rollUp, type DomainStatus, type ObjectStatus } from '../status.js';

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

  const objectIds: { id: string; kind: string; name: string; ip?: string; state?: string; cron?: ObjectStatus['cron'] }[] = [];
  if (domain.enabled) {
    objectIds.push({ id: objectId('network', null, domain.bridge), kind: 'network', name: domain.bridge });
    objectIds.push({ id: objectId('project', null, domain.project), kind: 'project', name: domain.project });
    for (const p of ['default', ...domain.profiles.map((x) => x.name)]) objectIds.push({ id: objectId('profile', domain.project, p), kind: 'profile', name: p });
    for (const m of domain.machines) {
      const actual = observed.instances.get(scoped(domain.project, m.name));
      objectIds.push({ id: objectId('instance', domain.project, m.name), kind: 'instance', name: m.name, ip: m.ip, state: actual?.status ?? 'Missing' });
    }
    // Services anklume deploys into an instance: their deploy action says how they stand.
    for (const s of servicesOf(input.model, domain)) objectIds.push({ id: serviceObjectId(domain.project, s.instance), kind: 'service', name: s.name });
    // The assistant's cron jobs (infra.yml openclaw.cron): pending while the instance's recorded hash differs.
    if (domain.openclaw !== null && domain.enabled) {
      const declared = domain.openclaw.cron.length;
      const lastSync = parseCronSyncRecord(observed.instances.get(scoped(domain.project, domain.openclaw.machine))?.config[CRON_SYNC_KEY]);
      objectIds.push({ id: objectId('cron', domain.project, domain.openclaw.machine), kind: 'cron', name: `cron jobs of openclaw on ${domain.openclaw.machine}`, cron: { declared, lastSync, summary: describeCronSync(declared, lastSync) } });
    }
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

/** The slice of a whole-infra plan that belongs to one domain. */
export function planOfDomain(plan: Plan, domain: string): Plan {
  return { actions: plan.actions.filter((a) => a.group === domain), notes: plan.notes.filter((n) => n.group === domain) };
}

