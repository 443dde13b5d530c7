import type { Action } from '../../reconcile/action.js';
import { objectId, serviceObjectId } from '../object-id.js';
import { scoped, type Observed } from '../observed.js';
import { DEPLOY_HASH_KEY, type ServiceDeployment } from './deployment.js';

export interface DeployPayload {
  readonly op: 'deploy';
  readonly deployment: ServiceDeployment;
}

/**
 * Deploy when the instance does not carry the hash of what is wanted (pure).
 * After the instance's own actions: it must exist and run first.
 */
export function planDeployment(deployment: ServiceDeployment, observed: Observed, planned: readonly Action[]): Action<DeployPayload> | null {
  const actual = observed.instances.get(scoped(deployment.project, deployment.instance));
  const deployed = actual?.config[DEPLOY_HASH_KEY];
  if (actual !== undefined && actual.status === 'Running' && deployed === deployment.hash && deployment.problem === undefined) return null;
  const instanceId = objectId('instance', deployment.project, deployment.instance);
  const after = planned.filter((a) => a.id === instanceId || a.id.startsWith(`${instanceId}#`)).map((a) => a.id);
  const reason = deployed === undefined ? `${deployment.name} not deployed` : deployed === deployment.hash ? 'instance not running' : `${deployment.name} build or config changed`;
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
