import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import { markedConfig, type DesiredObject } from './desired-object.js';
import { MARK } from '../../reconcile/ownership.js';
import { bridgeAclConfig } from '../../firewall/acl.js';

/**
 * Keys of a domain's bridge that decide what its traffic may reach: anklume
 * owns them even when it does not set them, so one set by hand (the host's
 * uplink enslaved, Incus's own firewall turned off, an ACL, routes or DHCP
 * options pushed through dnsmasq, IPv6 turned on) is undone on the next pass.
 */
const BRIDGE_ISOLATION_KEYS = ['bridge.external_interfaces', 'bridge.mode', 'ipv4.firewall', 'ipv4.routing', 'ipv4.routes', 'ipv4.routes.*', 'ipv4.nat', 'ipv4.nat.*', 'ipv4.dhcp.routes', 'ipv4.dhcp.gateway', 'ipv6.*', 'security.acls', 'security.acls.*', 'raw.dnsmasq', 'dns.zone.forward', 'dns.zone.reverse.ipv4', 'dns.zone.reverse.ipv6', 'tunnel.*'];

/**
 * The bridge of a domain, in the default project (the only place Incus allows
 * bridges). Every address key is explicit so that nothing is left to `auto`
 * and nothing drifts (incus-api.md §B.8).
 */
export function desiredBridge(domain: DesiredDomain, infra: DesiredInfra, options: { readonly acls?: boolean } = {}): DesiredObject {
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
        // Incus's default, explicit: the create turns it off for a moment (apply.ts).
        'dns.mode': 'managed',
        'ipv6.address': 'none',
        // On a cluster or a remote Incus, isolation is the domain's network ACL (docs/cluster.md).
        ...(options.acls === true ? bridgeAclConfig(domain.name) : {}),
      }),
      [MARK.subnet]: network.subnet,
    },
    owns: BRIDGE_ISOLATION_KEYS,
  };
}
