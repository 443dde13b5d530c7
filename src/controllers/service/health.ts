import { describeError } from '../../shared/errors.js';
import { scoped, type Observed } from '../observed.js';
import { DEPLOY_HASH_KEY, type ServiceDeployment } from './deployment.js';

/**
 * One health request: a service that takes longer than this to say ok is not
 * answering. Generous: OpenClaw on a busy two-core host was seen taking over
 * 2 s to answer /healthz in the minute after its start.
 */
const PROBE_TIMEOUT_MS = 5000;
/** A service is unhealthy only when this many requests in a row fail: one slow answer does not redeploy it. */
const PROBE_ATTEMPTS = 2;

/** Ask a service's health URL now: null when it answers 2xx, else what went wrong (the last failure). */
export async function probeHealth(d: ServiceDeployment, signal?: AbortSignal): Promise<string | null> {
  let problem: string | null = null;
  for (let attempt = 0; attempt < PROBE_ATTEMPTS; attempt++) {
    problem = await probeOnce(d, signal);
    if (problem === null) return null;
  }
  return problem;
}

async function probeOnce(d: ServiceDeployment, signal?: AbortSignal): Promise<string | null> {
  const timeout = AbortSignal.timeout(PROBE_TIMEOUT_MS);
  try {
    const res = await fetch(d.healthUrl, { signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]) });
    await res.body?.cancel();
    return res.ok ? null : `HTTP ${res.status}`;
  } catch (err) {
    signal?.throwIfAborted();
    return timeout.aborted ? `no answer within ${PROBE_TIMEOUT_MS / 1000}s` : describeError(err);
  }
}

/**
 * The health of every service that looks deployed (its instance runs with the
 * wanted hash): a matching hash says what was deployed, not that it still
 * runs. Services that will be deployed anyway are not asked. Keyed by
 * `project/instance`; null is healthy.
 */
export async function probeDeployed(deployments: readonly ServiceDeployment[], observed: Observed, signal?: AbortSignal): Promise<ReadonlyMap<string, string | null>> {
  const deployed = deployments.filter((d) => {
    const instance = observed.instances.get(scoped(d.project, d.instance));
    return instance?.status === 'Running' && instance.config[DEPLOY_HASH_KEY] === d.hash;
  });
  const results = await Promise.all(deployed.map(async (d) => [scoped(d.project, d.instance), await probeHealth(d, signal)] as const));
  return new Map(results);
}
