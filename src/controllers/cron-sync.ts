/**
 * The outcome of an assistant's last cron sync, kept on its instance (like
 * the jobs' hash) so `status` can say it without asking the gateway, from the
 * daemon or from `anklumectl status` alone. Pure. Shared: the service
 * controller writes it, the domain's status reads it.
 */

/** The instance config key holding the last sync's outcome (JSON of {@link CronSyncRecord}). */
export const CRON_SYNC_KEY = 'user.anklume.cron-sync';

export type CronSyncRecord =
  | { readonly at: string; readonly outcome: 'ok'; readonly jobs: number; readonly added: number; readonly updated: number; readonly removed: number }
  | { readonly at: string; readonly outcome: 'failed'; readonly error: string };

/** What a successful sync did, for the record. */
export function syncedRecord(at: string, jobs: number, diff: { readonly add: readonly unknown[]; readonly update: readonly unknown[]; readonly remove: readonly unknown[] }): CronSyncRecord {
  return { at, outcome: 'ok', jobs, added: diff.add.length, updated: diff.update.length, removed: diff.remove.length };
}

/** A failed sync, its error cut short: an instance config value is no log. */
export function failedRecord(at: string, error: string): CronSyncRecord {
  return { at, outcome: 'failed', error: error.length > 500 ? `${error.slice(0, 497)}...` : error };
}

/** The record on an instance, or null when there is none or it cannot be read (written by hand, or by an older anklume). */
export function parseCronSyncRecord(value: string | undefined): CronSyncRecord | null {
  if (value === undefined) return null;
  try {
    const r = JSON.parse(value) as Partial<Record<string, unknown>>;
    if (typeof r.at !== 'string') return null;
    if (r.outcome === 'ok' && [r.jobs, r.added, r.updated, r.removed].every((n) => typeof n === 'number')) return r as CronSyncRecord;
    if (r.outcome === 'failed' && typeof r.error === 'string') return r as CronSyncRecord;
    return null;
  } catch {
    return null;
  }
}

/** One line for people: `2 jobs, last sync ok at … (1 added)` or `last sync failed at …: <error>`. */
export function describeCronSync(declared: number, record: CronSyncRecord | null): string {
  const jobs = `${declared} job${declared === 1 ? '' : 's'} declared`;
  if (record === null) return `${jobs}, never synced`;
  if (record.outcome === 'failed') return `${jobs}, last sync failed at ${record.at}: ${record.error}`;
  const did = [record.added > 0 ? `${record.added} added` : '', record.updated > 0 ? `${record.updated} updated` : '', record.removed > 0 ? `${record.removed} removed` : ''].filter((s) => s !== '');
  return `${jobs}, last sync ok at ${record.at}: ${record.jobs} in the assistant${did.length > 0 ? ` (${did.join(', ')})` : ''}`;
}
