import { createHash } from 'node:crypto';
import type { KeyChange } from '../../reconcile/action.js';
import type { DesiredCronJob, DesiredDomain } from '../../schemas/model.js';
import type { TaskType } from '../../schemas/tasks.js';
import { OPENCLAW_PROVIDERS } from './openclaw-config.js';
import { taskProviderId, taskRoute } from './openclaw-tasks.js';

/**
 * A domain's cron jobs (infra.yml `openclaw.cron`) as OpenClaw jobs, and the
 * diff against the jobs its gateway holds (pure). OpenClaw keeps jobs in its
 * own state, not in the config file, so they are reconciled through its CLI:
 * `cron add --declaration-key` creates or updates in place (schedule, payload,
 * delivery), and anklume's jobs are the ones whose key starts with
 * `anklume:<domain>:`; any other job (OpenClaw's own heartbeat, a user's) is
 * never touched.
 */

/** The declaration key prefix of a domain's jobs. */
export function cronKeyPrefix(domain: string): string {
  return `anklume:${domain}:`;
}

/** How one job is delivered: to a Telegram owner, or kept in OpenClaw's run history. */
export type CronDelivery = { readonly mode: 'none' } | { readonly mode: 'announce'; readonly channel: 'telegram'; readonly to: string };

/** One job as anklume wants it in OpenClaw. */
export interface CronJobSpec {
  readonly key: string;
  readonly name: string;
  readonly schedule: string;
  /** IANA zone of the schedule; null: the instance's (UTC). */
  readonly tz: string | null;
  readonly message: string;
  readonly model: string;
  /** `[]`: strict, no fallback (local tasks stay local); null: the agent's fallbacks. */
  readonly fallbacks: readonly string[] | null;
  readonly delivery: CronDelivery;
  /** Says what anklume declared it as (task type, route): visible in `openclaw cron list`. */
  readonly description: string;
  readonly taskType: TaskType;
  /** Where the task goes: `local` (Ollama) or `cloud` (through the sanitizer). */
  readonly route: 'local' | 'cloud';
}

/** The OpenClaw job for one infra.yml job of `domain`. */
export function cronJobSpec(domain: DesiredDomain, job: DesiredCronJob): CronJobSpec {
  const openclaw = domain.openclaw;
  if (openclaw === null) throw new Error(`internal: domain ${domain.name} has no OpenClaw`);
  const route = taskRoute(domain, job.taskType);
  const owner = openclaw.telegram?.allowFrom[0];
  return {
    key: `${cronKeyPrefix(domain.name)}${job.name}`,
    name: job.name,
    schedule: job.schedule,
    tz: job.tz,
    message: job.prompt,
    model: route === 'cloud' ? `${taskProviderId(job.taskType)}/${openclaw.cloudModel ?? ''}` : `${OPENCLAW_PROVIDERS.local}/${openclaw.localModel}`,
    // A local task never falls back to the cloud: the table says local.
    fallbacks: route === 'local' ? [] : null,
    // Without a Telegram owner there is nobody to deliver to: the run history keeps the answer.
    delivery: job.deliver === 'owners' && owner !== undefined ? { mode: 'announce', channel: 'telegram', to: owner } : { mode: 'none' },
    description: `anklume task_type=${job.taskType} route=${route}`,
    taskType: job.taskType,
    route,
  };
}

/** The jobs anklume wants in a domain's assistant. */
export function desiredCronJobs(domain: DesiredDomain): CronJobSpec[] {
  return (domain.openclaw?.cron ?? []).map((j) => cronJobSpec(domain, j));
}

/** sha256 (hex, 32 chars) of the desired jobs: kept on the instance after a sync, so a pass with the same jobs needs no look inside. */
export function cronHash(jobs: readonly CronJobSpec[]): string {
  // The zone only when set: jobs declared before `tz` existed keep their hash.
  return createHash('sha256').update(JSON.stringify(jobs.map((j) => [j.key, j.name, j.schedule, j.message, j.model, j.fallbacks, j.delivery, j.description, ...(j.tz === null ? [] : [j.tz])]))).digest('hex').slice(0, 32);
}

/** `openclaw cron add` arguments (after the CLI itself) for a job. */
export function cronAddArgs(spec: CronJobSpec, port: number): string[] {
  const delivery = spec.delivery.mode === 'announce' ? ['--announce', '--channel', spec.delivery.channel, '--to', spec.delivery.to] : ['--no-deliver'];
  return [
    'cron', 'add', '--json', '--port', String(port),
    '--declaration-key', spec.key,
    '--name', spec.name,
    '--description', spec.description,
    '--cron', spec.schedule,
    // Without --tz OpenClaw reads the schedule in UTC; an add with the key and no --tz drops a zone set before (observed).
    ...(spec.tz === null ? [] : ['--tz', spec.tz]),
    // A fresh transcript per run: a report does not carry the last one's context.
    '--session', 'isolated',
    '--message', spec.message,
    '--model', spec.model,
    ...(spec.fallbacks === null ? [] : ['--fallbacks', spec.fallbacks.join(',')]),
    ...delivery,
  ];
}

export function cronRemoveArgs(id: string, port: number): string[] {
  return ['cron', 'remove', '--json', '--port', String(port), id];
}

export function cronListArgs(port: number): string[] {
  return ['cron', 'list', '--all', '--json', '--port', String(port)];
}

/** What `openclaw cron list --json` says of a job; only what anklume compares. */
export interface ObservedCronJob {
  readonly id: string;
  readonly declarationKey?: string | undefined;
  readonly name?: string | undefined;
  readonly description?: string | undefined;
  readonly schedule?: { readonly kind?: string; readonly expr?: string; readonly tz?: string } | undefined;
  readonly payload?: { readonly kind?: string; readonly message?: string; readonly model?: string; readonly fallbacks?: readonly string[] } | undefined;
  readonly delivery?: { readonly mode?: string; readonly channel?: string; readonly to?: string } | undefined;
}

/** Parse `openclaw cron list --all --json`. Throws on anything that is not that shape: a diff against a misread list would delete. */
export function parseCronList(text: string): ObservedCronJob[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`openclaw cron list did not print JSON: ${text.slice(0, 200)}`);
  }
  const jobs = (parsed as { jobs?: unknown }).jobs;
  if (!Array.isArray(jobs) || jobs.some((j) => typeof (j as { id?: unknown }).id !== 'string')) throw new Error('openclaw cron list printed JSON without a jobs list of ids');
  if ((parsed as { hasMore?: unknown }).hasMore === true) throw new Error('openclaw cron list has more jobs than one page; anklume does not page yet');
  return jobs as ObservedCronJob[];
}

export interface CronUpdate {
  readonly spec: CronJobSpec;
  readonly id: string;
  readonly changes: readonly KeyChange[];
  /** Name or description changed: `cron add` with the key keeps those, so the job is removed and added again. */
  readonly recreate: boolean;
}

export interface CronDiff {
  readonly add: readonly CronJobSpec[];
  readonly update: readonly CronUpdate[];
  /** anklume's jobs of this domain that infra.yml no longer declares (or duplicates of one key). */
  readonly remove: readonly { readonly id: string; readonly key: string; readonly name: string }[];
  readonly unchanged: number;
}

const show = (v: unknown): string => (v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v));

function deliveryOf(job: ObservedCronJob): CronDelivery | { readonly mode: string } {
  const d = job.delivery;
  if (d?.mode === 'announce') return { mode: 'announce', channel: d.channel as 'telegram', to: d.to ?? '' };
  return { mode: d?.mode ?? 'none' };
}

/** Differences between a wanted job and the one OpenClaw holds, field by field. */
export function cronChanges(spec: CronJobSpec, job: ObservedCronJob): KeyChange[] {
  const pairs: [string, unknown, unknown][] = [
    ['name', job.name, spec.name],
    ['description', job.description, spec.description],
    ['schedule', job.schedule?.kind === 'cron' ? job.schedule.expr : show(job.schedule), spec.schedule],
    ['tz', job.schedule?.tz, spec.tz ?? undefined],
    ['prompt', job.payload?.kind === 'agentTurn' ? job.payload.message : `(${job.payload?.kind ?? 'no'} payload)`, spec.message],
    ['model', job.payload?.model, spec.model],
    ['fallbacks', job.payload?.fallbacks === undefined ? undefined : JSON.stringify(job.payload.fallbacks), spec.fallbacks === null ? undefined : JSON.stringify(spec.fallbacks)],
    ['delivery', JSON.stringify(deliveryOf(job)), JSON.stringify(spec.delivery)],
  ];
  return pairs.filter(([, from, to]) => from !== to).map(([key, from, to]) => ({ key, from: show(from), to: show(to) }));
}

/**
 * What to do so that the gateway holds exactly `desired` among the domain's
 * anklume jobs: add the missing, update the different, remove the others.
 * Jobs outside the domain's key prefix are not looked at.
 */
export function diffCron(domain: string, desired: readonly CronJobSpec[], observed: readonly ObservedCronJob[]): CronDiff {
  const prefix = cronKeyPrefix(domain);
  const ours = observed.filter((j) => j.declarationKey?.startsWith(prefix) === true);
  const add: CronJobSpec[] = [];
  const update: CronUpdate[] = [];
  let unchanged = 0;
  const kept = new Set<string>();
  for (const spec of desired) {
    const job = ours.find((j) => j.declarationKey === spec.key);
    if (job === undefined) {
      add.push(spec);
      continue;
    }
    kept.add(job.id);
    const changes = cronChanges(spec, job);
    if (changes.length === 0) unchanged++;
    else update.push({ spec, id: job.id, changes, recreate: changes.some((c) => c.key === 'name' || c.key === 'description') });
  }
  const remove = ours.filter((j) => !kept.has(j.id)).map((j) => ({ id: j.id, key: j.declarationKey ?? '', name: j.name ?? j.id }));
  return { add, update, remove, unchanged };
}

/** The diff as an action's key changes: one per job, `+ name`, `~ name`, `- name`. */
export function cronDiffChanges(diff: CronDiff): KeyChange[] {
  return [
    ...diff.add.map((s) => ({ key: `cron ${s.name}`, to: `${s.schedule} (${s.taskType}, ${s.route})` })),
    ...diff.update.map((u) => ({ key: `cron ${u.spec.name}`, from: u.changes.map((c) => `${c.key}: ${c.from ?? ''}`).join('; '), to: u.changes.map((c) => `${c.key}: ${c.to ?? ''}`).join('; ') })),
    ...diff.remove.map((r) => ({ key: `cron ${r.name}`, from: r.key })),
  ];
}

export function emptyDiff(diff: CronDiff): boolean {
  return diff.add.length === 0 && diff.update.length === 0 && diff.remove.length === 0;
}
