import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import { markedConfig, type DesiredObject } from './desired-object.js';
import { MARK } from '../../reconcile/ownership.js';

/**
 * The bridge of a domain, in the default project (the only place Incus allows
 * bridges). Every address key is explicit so that nothing is left to `auto`
 * and nothing drifts (incus-api.md §B.8).
 */
export function desiredBridge(domain: DesiredDomain, infra: DesiredInfra): DesiredObject {
  const { network } = domain;
  return {
    kind: 'network',
    group: domain.name,
    project: null,
    name: domain.bridge,
    type: 'bridge',
    description: `anklume domain ${domain.name}`,
    config: {
      ...markedConfig(infra.projectName, domain.name, {
        'ipv4.address': `${network.gateway}/${network.prefixLength}`,
        'ipv4.nat': 'true',
        'ipv4.dhcp': 'true',
        'ipv4.dhcp.ranges': `${network.dhcpRange.first}-${network.dhcpRange.last}`,
        'ipv6.address': 'none',
      }),
      [MARK.subnet]: network.subnet,
    },
  };
}
