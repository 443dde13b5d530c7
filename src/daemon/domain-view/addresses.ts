import type { DesiredInfra } from '../../schemas/model.js';
import { cidrContains, parseCidr, parseIpv4 } from '../../shared/ipv4.js';

/** Where one domain's view is served: its gateway address, on its bridge, for its subnet. */
export interface ViewBinding {
  readonly domain: string;
  readonly bridge: string;
  /** The bridge's address on the host, where the view listens. */
  readonly gateway: string;
  /** The domain's subnet (`10.110.1.0/24`): the only addresses its view answers. */
  readonly subnet: string;
}

/** The views the model asks for: one per enabled domain (a disabled one has no bridge), none when the view is off. */
export function viewBindings(model: DesiredInfra): ViewBinding[] {
  if (!model.domainView.enabled) return [];
  return model.domains.filter((d) => d.enabled).map((d) => ({ domain: d.name, bridge: d.bridge, gateway: d.network.gateway, subnet: d.network.subnet }));
}

/** Node gives IPv4 peers of a dual-stack socket as `::ffff:a.b.c.d`. */
function plainIpv4(address: string | undefined): number | null {
  if (address === undefined) return null;
  return parseIpv4(address.startsWith('::ffff:') ? address.slice(7) : address);
}

export type ConnectionDomain = { readonly ok: true; readonly domain: string } | { readonly ok: false; readonly reason: string };

/**
 * Which domain a connection is about, from its two addresses alone (never a
 * header): the local address must be a domain's gateway, and the peer must be
 * in that same domain's subnet. Anything else is refused: a connection that
 * came to A's gateway from B's bridge (were the firewall ever missing), from
 * the host's LAN, or to an address that is no gateway. Fails closed: an
 * unparsable address is no domain's.
 */
export function domainOfConnection(bindings: readonly ViewBinding[], local: string | undefined, remote: string | undefined): ConnectionDomain {
  const localIp = plainIpv4(local);
  const remoteIp = plainIpv4(remote);
  if (localIp === null || remoteIp === null) return { ok: false, reason: 'not an IPv4 connection' };
  const binding = bindings.find((b) => parseIpv4(b.gateway) === localIp);
  if (binding === undefined) return { ok: false, reason: `${local ?? ''} is no domain's gateway` };
  const subnet = parseCidr(binding.subnet);
  if (subnet === null || !cidrContains(subnet, remoteIp)) return { ok: false, reason: `${remote ?? ''} is not in domain ${binding.domain}'s subnet` };
  return { ok: true, domain: binding.domain };
}

/** Host interfaces as `os.networkInterfaces()` gives them (only what is read). */
export type HostInterfaces = Readonly<Record<string, readonly { readonly address: string; readonly family: string | number }[] | undefined>>;

/**
 * The views to listen for now: those whose bridge exists on the host and holds
 * its gateway address. The reconciler creates bridges; a view starts once its
 * bridge carries the address and stops when it goes.
 */
export function presentBindings(bindings: readonly ViewBinding[], interfaces: HostInterfaces): ViewBinding[] {
  return bindings.filter((b) => (interfaces[b.bridge] ?? []).some((a) => (a.family === 'IPv4' || a.family === 4) && a.address === b.gateway));
}
