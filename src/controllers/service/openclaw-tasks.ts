import type { DesiredDomain } from '../../schemas/model.js';
import { isCloudTask, type TaskType } from '../../schemas/tasks.js';

/**
 * Where a domain's automated tasks (cron jobs, the heartbeat's escalation)
 * run, by spec/000 §4's static table: pure, shared by the config renderer
 * (which defines one provider per cloud task type) and the cron jobs (which
 * pick that provider's model).
 */

/** The task type the heartbeat escalates a critical verdict as. */
export const HEARTBEAT_ESCALATION_TASK: TaskType = 'incident-analysis';

/** Provider id that carries one task type to the sanitizer (`x-anklume-task`), so it routes by spec/000 §4's table. */
export function taskProviderId(task: TaskType): string {
  return `anklume-task-${task}`;
}

/**
 * Where a task type of a domain runs (spec/000 §4): `local` keeps everything
 * on Ollama; `cloud` sends everything to the sanitizer; `local-first` sends
 * only the cloud task types there, and only with a cloud model. A disposable
 * domain never reaches a cloud model (the sanitizer refuses it anyway).
 */
export function taskRoute(domain: DesiredDomain, task: TaskType): 'local' | 'cloud' {
  const cloudModel = domain.openclaw?.cloudModel ?? null;
  if (cloudModel === null || domain.trustLevel === 'disposable' || domain.aiProvider === 'local') return 'local';
  if (domain.aiProvider === 'cloud') return 'cloud';
  return isCloudTask(task) ? 'cloud' : 'local';
}

/** The task types whose provider the domain's config must define: every cloud-routed task of its jobs, plus the heartbeat's escalation. */
export function cloudTaskTypes(domain: DesiredDomain, extra: readonly TaskType[] = []): TaskType[] {
  const tasks = [...(domain.openclaw?.cron ?? []).map((j) => j.taskType), ...extra];
  return [...new Set(tasks)].filter((t) => taskRoute(domain, t) === 'cloud').sort();
}

