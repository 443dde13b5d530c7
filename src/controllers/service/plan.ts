import type { Action } from '../../reconcile/action.js';
import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import { sanitizerEndpoint } from '../../schemas/services.js';
import { objectId } from '../domain/plan-config-object.js';
import { scoped, type Observed } from '../domain/observed.js';
import { DEPLOY_HASH_KEY, type ServiceDeployment } from './deployment.js';

export interface DeployPayload {
  readonly op: 'deploy';
  readonly deployment: ServiceDeployment;
}

/** The status id of a service: one per instance. */
export function serviceObjectId(project: string, instance: string): string {
  return `service/${project}/${instance}`;
}

/** The services anklume deploys into a domain's instances (the sanitizer, its OpenClaw), by status id. */
export function servicesOf(model: DesiredInfra, domain: DesiredDomain): { readonly id: string; readonly instance: string; readonly name: string }[] {
  if (!domain.enabled) return [];
  const sanitizer = sanitizerEndpoint(model);
  const services = sanitizer?.domain === domain.name ? [{ id: serviceObjectId(domain.project, sanitizer.machine), instance: sanitizer.machine, name: `sanitizer on ${sanitizer.machine}` }] : [];
  if (domain.openclaw !== null) services.push({ id: serviceObjectId(domain.project, domain.openclaw.machine), instance: domain.openclaw.machine, name: `openclaw on ${domain.openclaw.machine}` });
  return services;
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
