import type { Action } from '../../reconcile/action.js';
import { objectId } from '../object-id.js';
import { scoped, type Observed } from '../observed.js';
import { CRON_HASH_KEY, type ServiceDeployment } from './deployment.js';
import { cronDiffChanges, diffCron, emptyDiff, type CronDiff, type ObservedCronJob } from './openclaw-cron.js';

export interface CronPayload {
  readonly op: 'cron';
  readonly deployment: ServiceDeployment;
}

/** What the plan knows of a gateway's jobs: its list, why it could not be read, or nothing (not asked). */
export type CronListing = { readonly jobs: readonly ObservedCronJob[] } | { readonly error: string };

export function cronObjectId(project: string, instance: string): string {
  return objectId('cron', project, instance);
}

/**
 * Whether the jobs of a deployment must be looked at: the instance does not
 * carry the hash of the wanted jobs (the last sync was of other jobs, or
 * never ran while there are jobs to make). Pure.
 */
export function cronOutOfSync(d: ServiceDeployment, observed: Observed): boolean {
  if (d.cron === undefined) return false;
  const synced = observed.instances.get(scoped(d.project, d.instance))?.config[CRON_HASH_KEY];
  if (synced === undefined) return d.cron.jobs.length > 0;
  return synced !== d.cron.hash;
}

/**
 * The cron action of an OpenClaw deployment (pure), after its deploy action
 * when there is one: the gateway must run the wanted config first. With the
 * gateway's list, the action names each job added, updated or removed; a list
 * that matches already only records the hash (no write to OpenClaw).
 */
export function planCron(d: ServiceDeployment, observed: Observed, planned: readonly Action[], listing: CronListing | undefined): Action<CronPayload> | null {
  if (d.cron === undefined || !cronOutOfSync(d, observed)) return null;
  const deploy = planned.find((a) => a.id === objectId('service', d.project, d.instance));
  const diff: CronDiff | null = listing !== undefined && 'jobs' in listing ? diffCron(d.domain, d.cron.jobs, listing.jobs) : null;
  const synced = observed.instances.get(scoped(d.project, d.instance))?.config[CRON_HASH_KEY];
  const reason =
    diff !== null
      ? emptyDiff(diff)
        ? 'jobs already match; records their hash'
        : `${diff.add.length} to add, ${diff.update.length} to update, ${diff.remove.length} to remove`
      : listing !== undefined && 'error' in listing
        ? `jobs could not be listed (${listing.error}); they are compared when applied`
        : deploy !== undefined
          ? `${d.cron.jobs.length} declared; compared once ${d.name} is deployed`
          : `${d.cron.jobs.length} declared; compared when applied`;
  return {
    id: cronObjectId(d.project, d.instance),
    group: d.domain,
    kind: 'cron',
    name: `cron jobs of ${d.name} on ${d.instance}`,
    verb: synced === undefined ? 'create' : 'update',
    reason,
    changes: diff !== null ? cronDiffChanges(diff) : d.cron.jobs.map((j) => ({ key: `cron ${j.name}`, to: `${j.schedule} (${j.taskType}, ${j.route})` })),
    after: deploy === undefined ? [] : [deploy.id],
    ...(d.problem === undefined ? {} : { blocked: d.problem }),
    payload: { op: 'cron', deployment: d },
  };
}
