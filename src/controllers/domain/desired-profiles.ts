import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import { markedConfig, type DesiredObject } from './desired-object.js';

/**
 * The profiles of a domain's project: its `default` profile (root disk on the
 * storage pool, eth0 on the domain's bridge) and the profiles infra.yml declares.
 */
export function desiredProfiles(domain: DesiredDomain, infra: DesiredInfra, storagePool: string): DesiredObject[] {
  const defaultDevices = {
    root: { type: 'disk', path: '/', pool: storagePool },
    eth0: { type: 'nic', network: domain.bridge, name: 'eth0' },
  };
  return [
    {
      kind: 'profile',
      group: domain.name,
      project: domain.project,
      name: 'default',
      description: `anklume: root disk and eth0 on ${domain.bridge}`,
      config: markedConfig(infra.projectName, domain.name, {}, defaultDevices),
      devices: defaultDevices,
    },
    ...domain.profiles.map((p): DesiredObject => ({
      kind: 'profile',
      group: domain.name,
      project: domain.project,
      name: p.name,
      description: p.description,
      config: markedConfig(infra.projectName, domain.name, p.config, p.devices),
      devices: p.devices,
    })),
  ];
}
