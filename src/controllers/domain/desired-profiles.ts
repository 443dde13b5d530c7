import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import { markedConfig, type DesiredObject } from './desired-object.js';
import { domainBridges, withAddressFiltering } from './nic-filtering.js';

/**
 * The profiles of a domain's project: its `default` profile (root disk on the
 * storage pool, eth0 on the domain's bridge) and the profiles infra.yml declares.
 * Every NIC they put on the bridge filters its addresses, so an instance made in
 * the project by hand cannot claim a machine's address either (Incus pins one
 * from the DHCP range for a NIC that has none).
 */
export function desiredProfiles(domain: DesiredDomain, infra: DesiredInfra, storagePool: string): DesiredObject[] {
  const defaultDevices = withAddressFiltering(
    {
      root: { type: 'disk', path: '/', pool: storagePool },
      eth0: { type: 'nic', network: domain.bridge, name: 'eth0' },
    },
    domainBridges(infra),
  );
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
      devices: withAddressFiltering(p.devices, domainBridges(infra)),
    })),
  ];
}
