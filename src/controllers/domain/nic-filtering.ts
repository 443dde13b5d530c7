import type { IncusDevices } from '../observed.js';

/**
 * What stops an instance from speaking with another's addresses on its domain
 * bridge. On the host side of the NIC, Incus drops frames whose source MAC is
 * not the NIC's own, and ARP or IPv4 whose sender is not its `ipv4.address`
 * (the pinned one, or one Incus allocates and pins when there is none): Incus
 * doc/reference/devices_nic.md, `nictype: bridged`. The firewall matches a
 * machine by its pinned address, and the sanitizer identifies callers by their
 * source address: without these keys both would believe whoever claims it.
 * Incus applies them to a running instance in place (they are among the bridged
 * NIC's live-updatable keys): no restart.
 *
 * `security.ipv6_filtering` is not set: the bridges have `ipv6.address=none`
 * and the firewall drops every family between them, so no IPv6 address means
 * anything to a policy; and Incus 6.0 refuses to start a NIC with it unless
 * bridge netfilter is enabled for IPv6. Set it here once bridges carry IPv6.
 */
export const ADDRESS_FILTERING: Readonly<Record<string, string>> = {
  'security.mac_filtering': 'true',
  'security.ipv4_filtering': 'true',
};

/**
 * These devices, with every NIC on one of these bridges (anklume's domain
 * bridges, by `network` or by `parent`) filtering its addresses. The filtering
 * wins over a value declared in infra.yml, as the pinned eth0 does: a NIC an
 * admin domain puts on another domain's bridge cannot claim a machine there either.
 */
export function withAddressFiltering(devices: IncusDevices, bridges: readonly string[]): Record<string, Readonly<Record<string, string>>> {
  const onBridge = (device: Readonly<Record<string, string>>): boolean => device['type'] === 'nic' && bridges.some((b) => device['network'] === b || device['parent'] === b);
  return Object.fromEntries(Object.entries(devices).map(([name, device]) => [name, onBridge(device) ? { ...device, ...ADDRESS_FILTERING } : device]));
}

/** The domain bridges of an infra: where every NIC is filtered. */
export function domainBridges(infra: { readonly domains: readonly { readonly bridge: string }[] }): string[] {
  return infra.domains.map((d) => d.bridge);
}
