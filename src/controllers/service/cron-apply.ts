import type { IncusClient } from '../../incus/client.js';
import type { Instance, InstancePut } from '../../incus/types.js';
import type { Action } from '../../reconcile/action.js';
import { describeError } from '../../shared/errors.js';
import { instancePut } from '../domain/apply.js';
import { objectId } from '../object-id.js';
import type { Observed } from '../observed.js';
import { cronOutOfSync, type CronListing } from './cron-plan.js';
import { CRON_SYNC_KEY, failedRecord, syncedRecord } from '../cron-sync.js';
import { CRON_HASH_KEY, type ServiceDeployment } from './deployment.js';
import { DeployFailedError } from './apply.js';
import { cronAddArgs, cronListArgs, cronRemoveArgs, diffCron, parseCronList, type CronDiff } from './openclaw-cron.js';
import { OPENCLAW_ENV, OPENCLAW_PATHS, OPENCLAW_USER } from './openclaw-paths.js';

/** One OpenClaw CLI call starts a Node process of its own: about 10 s on a busy two-core host. */
const CLI_TIMEOUT_SECONDS = 120;

/**
 * Run the pinned OpenClaw CLI inside the instance against its running
 * gateway, as the service user with the service's environment (the CLI
 * writes into the state dir; root would leave root-owned files there). The
 * gateway token comes from the root-only secrets file, read by root and
 * passed in the environment, never on a command line.
 */
export async function openclawCli(client: IncusClient, d: Pick<ServiceDeployment, 'project' | 'instance'>, args: readonly string[], signal: AbortSignal): Promise<string> {
  const r = await client.exec(d.project, d.instance, openclawCliCommand(args), { signal, timeoutSeconds: CLI_TIMEOUT_SECONDS });
  if (r.code !== 0) throw new DeployFailedError(`openclaw ${args.slice(0, 2).join(' ')} on ${d.instance} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-500)}`);
  return r.stdout;
}

/** The command that runs `openclaw <args>` inside an assistant's instance, as {@link openclawCli} does. */
export function openclawCliCommand(args: readonly string[]): string[] {
  const node = `${OPENCLAW_PATHS.installDir}/node_modules/node/bin/node`;
  const entry = `${OPENCLAW_PATHS.installDir}/node_modules/openclaw/openclaw.mjs`;
  const token = OPENCLAW_ENV.gatewayToken;
  const script = [
    `. ${OPENCLAW_PATHS.secretsEnvFile}`,
    // The service user's own directory: some commands (`system event`) spawn Node children, which fail (EACCES) in root's.
    `cd ${OPENCLAW_PATHS.stateDir}`,
    `exec runuser -u ${OPENCLAW_USER} -- env HOME=${OPENCLAW_PATHS.stateDir} OPENCLAW_STATE_DIR=${OPENCLAW_PATHS.stateDir} OPENCLAW_CONFIG_PATH=${OPENCLAW_PATHS.configFile} OPENCLAW_CONFIG_READONLY=1 OPENCLAW_NO_AUTO_UPDATE=1 OPENCLAW_OFFLINE=1 ${token}="$${token}" ${node} ${entry} "$@"`,
  ].join('\n');
  return ['sh', '-ec', script, 'sh', ...args];
}

/**
 * The gateways' job lists the plan needs: those out of sync whose service is
 * not being (re)deployed in this plan (a stopped or old gateway would answer
 * for a state about to change). Read-only.
 */
export async function listCronJobs(client: IncusClient, deployments: readonly ServiceDeployment[], observed: Observed, planned: readonly Action[], signal?: AbortSignal): Promise<ReadonlyMap<string, CronListing>> {
  const wanted = deployments.filter((d) => cronOutOfSync(d, observed) && d.problem === undefined && !planned.some((a) => a.id === objectId('service', d.project, d.instance)));
  const sig = signal ?? new AbortController().signal;
  const results = await Promise.all(
    wanted.map(async (d): Promise<[string, CronListing]> => {
      try {
        return [objectId('service', d.project, d.instance), { jobs: parseCronList(await openclawCli(client, d, cronListArgs(d.cron?.port ?? 0), sig)) }];
      } catch (err) {
        sig.throwIfAborted();
        return [objectId('service', d.project, d.instance), { error: describeError(err) }];
      }
    }),
  );
  return new Map(results);
}

/**
 * Bring a gateway's anklume jobs to the wanted ones: list, then only the
 * writes the diff asks for (a job that matches is not written, so its run
 * state and next run stay), then the hash on the instance, last, so a failure
 * leaves the old hash and the next pass compares again. The outcome, ok or
 * failed, is recorded on the instance too (../cron-sync.ts) for status.
 */
export async function applyCron(client: IncusClient, d: ServiceDeployment, signal: AbortSignal): Promise<CronDiff> {
  try {
    return await syncCron(client, d, signal);
  } catch (err) {
    // Told to status by the instance; the error still fails the action. Best effort: Incus may be what failed.
    const record = JSON.stringify(failedRecord(new Date().toISOString(), describeError(err)));
    const path = `/1.0/instances/${encodeURIComponent(d.instance)}`;
    await client.updateWithRetry<Instance, InstancePut>(path, (current) => instancePut(current, { config: { ...current.config, [CRON_SYNC_KEY]: record } }), { project: d.project, signal }).catch(() => undefined);
    throw err;
  }
}

async function syncCron(client: IncusClient, d: ServiceDeployment, signal: AbortSignal): Promise<CronDiff> {
  const cron = d.cron;
  if (cron === undefined) throw new Error(`internal: ${d.name} on ${d.instance} has no cron jobs to apply`);
  const diff = diffCron(d.domain, cron.jobs, parseCronList(await openclawCli(client, d, cronListArgs(cron.port), signal)));
  for (const r of diff.remove) await openclawCli(client, d, cronRemoveArgs(r.id, cron.port), signal);
  for (const u of diff.update) {
    // `cron add` with a known key keeps the stored name and description: those need a new job.
    if (u.recreate) await openclawCli(client, d, cronRemoveArgs(u.id, cron.port), signal);
    await openclawCli(client, d, cronAddArgs(u.spec, cron.port), signal);
  }
  for (const spec of diff.add) await openclawCli(client, d, cronAddArgs(spec, cron.port), signal);
  const path = `/1.0/instances/${encodeURIComponent(d.instance)}`;
  const record = JSON.stringify(syncedRecord(new Date().toISOString(), cron.jobs.length, diff));
  await client.updateWithRetry<Instance, InstancePut>(path, (current) => instancePut(current, { config: { ...current.config, [CRON_HASH_KEY]: cron.hash, [CRON_SYNC_KEY]: record } }), { project: d.project, signal });
  return diff;
}
