import type { Action } from '../../reconcile/action.js';
import { objectId, serviceObjectId } from '../object-id.js';
import { scoped, type Observed } from '../observed.js';
import { DEPLOY_HASH_KEY, type ServiceDeployment } from './deployment.js';

export interface DeployPayload {
  readonly op: 'deploy';
  readonly deployment: ServiceDeployment;
}

/**
 * Deploy when the instance does not carry the hash of what is wanted, or
 * carries it but the service does not answer its health check now (pure: the
 * caller probes, see probeDeployed). After the instance's own actions: it must
 * exist and run first.
 */
export function planDeployment(deployment: ServiceDeployment, observed: Observed, planned: readonly Action[], health: ReadonlyMap<string, string | null> = new Map()): Action<DeployPayload> | null {
  const key = scoped(deployment.project, deployment.instance);
  const actual = observed.instances.get(key);
  const deployed = actual?.config[DEPLOY_HASH_KEY];
  const unhealthy = health.get(key) ?? null;
  const running = actual !== undefined && actual.status === 'Running';
  if (running && deployed === deployment.hash && deployment.problem === undefined && unhealthy === null) return null;
  const instanceId = objectId('instance', deployment.project, deployment.instance);
  const after = planned.filter((a) => a.id === instanceId || a.id.startsWith(`${instanceId}#`)).map((a) => a.id);
  const reason =
    deployed === undefined
      ? `${deployment.name} not deployed`
      : deployed !== deployment.hash
        ? `${deployment.name} build or config changed`
        : !running
          ? 'instance not running'
          : `${deployment.name} does not answer its health check at ${deployment.healthUrl} (${unhealthy ?? ''})`;
  return {
    id: serviceObjectId(deployment.project, deployment.instance),
    group: deployment.domain,
    kind: 'service',
    name: `${deployment.name} on ${deployment.instance}`,
    verb: deployed === undefined ? 'create' : 'update',
    reason,
    changes: deployed === undefined ? [] : [{ key: DEPLOY_HASH_KEY, from: deployed, to: deployment.hash }],
    after,
    ...(deployment.problem === undefined ? {} : { blocked: deployment.problem }),
    payload: { op: 'deploy', deployment },
  };
}
